package dev.periscope.vmi.driver.image;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The memory images a host serves: every regular file of one directory (hidden files aside), each a VM named after
 * its file ({@link #nameOf}). The directory is read on every listing, so copying an image in or deleting one needs
 * no restart. Its owner (the operator) decides what is in it; nothing here writes to it. Thread-safe (no state but
 * the directory).
 *
 * @param directory the directory (absolute)
 * @param rawLayout how the raw RAM files in it are laid out (ELF cores and snapshots carry their own layout)
 */
public record ImageDirectory(Path directory, RawLayout rawLayout) {

    private static final Logger log = LoggerFactory.getLogger(ImageDirectory.class);
    private static final int MAX_IMAGES = 1024;
    private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9-]{0,31}");

    /** One image of the directory: the VM {@code name} is the file {@code file}. */
    public record Image(String name, Path file) {
    }

    public ImageDirectory {
        Objects.requireNonNull(rawLayout, "rawLayout");
        directory = directory.toAbsolutePath().normalize();
    }

    /**
     * Every image, by name; of two files that reduce to one name only the first by file name is served (and the
     * other logged). Empty when the directory does not exist.
     */
    public List<Image> list() {
        List<Path> files = new ArrayList<>();
        if (!Files.isDirectory(directory)) {
            return List.of();
        }
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory,
                f -> !f.getFileName().toString().startsWith(".") && Files.isRegularFile(f))) {
            for (Path f : entries) {
                if (files.size() == MAX_IMAGES) {
                    log.warn("image directory {}: more than {} files, the rest are not served", directory,
                            MAX_IMAGES);
                    break;
                }
                files.add(f);
            }
        } catch (IOException e) {
            log.warn("cannot list the image directory {}: {}", directory, e.getMessage());
        }
        files.sort(null);
        List<Image> images = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (Path f : files) {
            String name = nameOf(f);
            if (names.add(name)) {
                images.add(new Image(name, f));
            } else {
                log.warn("image directory {}: {} is not served, its VM name {} is another file's", directory,
                        f.getFileName(), name);
            }
        }
        images.sort(Comparator.comparing(Image::name));
        return images;
    }

    public Optional<Image> find(String name) {
        return list().stream().filter(i -> i.name().equals(name)).findFirst();
    }

    /**
     * A VM name for an image file: its file name without the extension, lower-cased, runs of other characters
     * than letters and digits turned into one '-', at most 32 characters; "image" when nothing is left.
     */
    public static String nameOf(Path file) {
        String base = file.getFileName().toString().toLowerCase();
        int dot = base.lastIndexOf('.');
        if (dot > 0) {
            base = base.substring(0, dot);
        }
        base = base.replaceAll("[^a-z0-9]+", "-").replaceAll("^-+|-+$", "");
        if (base.length() > 32) {
            base = base.substring(0, 32).replaceAll("-+$", "");
        }
        return NAME.matcher(base).matches() ? base : "image";
    }
}
