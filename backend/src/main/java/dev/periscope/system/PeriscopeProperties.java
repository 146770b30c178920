package dev.periscope.system;

import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import java.nio.file.Path;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * Server configuration. The defaults run the lab with no configuration at all.
 *
 * @param varDir      runtime directory: lab VMs ({@code lab/}), bootstrap credentials, database
 * @param readThreads threads of the bounded scheduler that runs blocking engine reads (never the event loop)
 * @param readQueue   reads that may wait for a thread before requests are refused
 */
@Validated
@ConfigurationProperties("periscope")
public record PeriscopeProperties(
        @NotNull @DefaultValue("var") Path varDir,
        @Min(1) @Max(64) @DefaultValue("4") int readThreads,
        @Min(1) @Max(100_000) @DefaultValue("256") int readQueue) {
}
