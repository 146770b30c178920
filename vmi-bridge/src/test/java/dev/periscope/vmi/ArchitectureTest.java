package dev.periscope.vmi;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/**
 * The native boundary (docs/ARCHITECTURE.md, "The native boundary"): FFM stays in the wrapper packages, and each
 * package of generated bindings is imported by its one wrapper package only.
 */
@AnalyzeClasses(packages = "dev.periscope", importOptions = ImportOption.DoNotIncludeTests.class)
class ArchitectureTest {

    /** FFM types stay in the wrapper packages: guest memory, the event ring, the Xen and libvirt drivers, the bindings. */
    @ArchTest
    static final ArchRule ffmOnlyInTheWrapperPackages = noClasses()
            .that().resideOutsideOfPackages("dev.periscope.vmi.memory..", "dev.periscope.vmi.ring..",
                    "dev.periscope.vmi.nativeapi..", "dev.periscope.vmi.driver.xen..",
                    "dev.periscope.vmi.driver.libvirt..")
            .should().dependOnClassesThat().haveFullyQualifiedName("java.lang.foreign.MemorySegment")
            .orShould().dependOnClassesThat().haveFullyQualifiedName("java.lang.foreign.Arena")
            .because("guest memory is copied out of native memory in the wrapper packages, never handed on");

    @ArchTest
    static final ArchRule ringBindingsOnlyBehindTheRingReader = bindingsOnlyBehind("ring", "dev.periscope.vmi.ring");

    @ArchTest
    static final ArchRule xenBindingsOnlyBehindTheXenDriver = bindingsOnlyBehind("xen", "dev.periscope.vmi.driver.xen");

    @ArchTest
    static final ArchRule mmanBindingsOnlyBehindGuestMemory = bindingsOnlyBehind("mman", "dev.periscope.vmi.memory");

    @ArchTest
    static final ArchRule libvirtBindingsOnlyBehindTheLibvirtDriver =
            bindingsOnlyBehind("libvirt", "dev.periscope.vmi.driver.libvirt");

    /** Only {@code wrapper} (and the bindings themselves) may use the generated package {@code nativeapi.NAME}. */
    static ArchRule bindingsOnlyBehind(String name, String wrapper) {
        String bindings = "dev.periscope.vmi.nativeapi." + name;
        return noClasses().that().resideOutsideOfPackages(wrapper, bindings)
                .should().dependOnClassesThat().resideInAPackage(bindings)
                .because("jextract's " + name + " bindings are used by " + wrapper + " only, which turns their "
                        + "handles into AutoCloseable owners and their status codes into typed exceptions");
    }
}
