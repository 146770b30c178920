package dev.periscope.vmi;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/** The native boundary: FFM stays in the wrapper packages, each generated binding package behind its one wrapper. */
@AnalyzeClasses(packages = "dev.periscope.vmi", importOptions = ImportOption.DoNotIncludeTests.class)
class ArchitectureTest {

    /** FFM types stay in the wrapper packages: guest memory, the event ring, the Xen and libvirt drivers, the bindings. */
    @ArchTest
    static final ArchRule ffmOnlyInTheWrapperPackages = noClasses()
            .that().resideOutsideOfPackages("dev.periscope.vmi.memory..", "dev.periscope.vmi.ring..",
                    "dev.periscope.vmi.nativeapi..", "dev.periscope.vmi.driver.xen..",
                    "dev.periscope.vmi.driver.libvirt..")
            .should().dependOnClassesThat().haveFullyQualifiedName("java.lang.foreign.MemorySegment")
            .orShould().dependOnClassesThat().haveFullyQualifiedName("java.lang.foreign.Arena")
            .because("guest memory is copied out of native memory in one wrapper package (STYLE habit 3)");

    @ArchTest
    static final ArchRule ringBindingsOnlyBehindTheRingReader = bindingsOnlyBehind("ring", "dev.periscope.vmi.ring");

    @ArchTest
    static final ArchRule xenBindingsOnlyBehindTheXenDriver = bindingsOnlyBehind("xen", "dev.periscope.vmi.driver.xen");

    @ArchTest
    static final ArchRule libvirtBindingsOnlyBehindTheLibvirtDriver =
            bindingsOnlyBehind("libvirt", "dev.periscope.vmi.driver.libvirt");

    /** jextract's package {@code nativeapi.NAME} is used by itself and by its one wrapper package. */
    private static ArchRule bindingsOnlyBehind(String name, String wrapper) {
        String bindings = "dev.periscope.vmi.nativeapi." + name;
        return noClasses()
                .that().resideOutsideOfPackages(bindings, wrapper)
                .should().dependOnClassesThat().resideInAPackage(bindings)
                .because("the jextract bindings in " + bindings + " are used only by " + wrapper);
    }
}
