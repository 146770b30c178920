package dev.periscope.vmi;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/** The native boundary: FFM stays in the memory wrapper, generated bindings behind their two owners. */
@AnalyzeClasses(packages = "dev.periscope.vmi", importOptions = ImportOption.DoNotIncludeTests.class)
class ArchitectureTest {

    @ArchTest
    /** FFM types stay in the wrapper packages: guest memory, the event ring, the Xen driver and the bindings. */
    static final ArchRule ffmOnlyInTheWrapperPackages = noClasses()
            .that().resideOutsideOfPackages("dev.periscope.vmi.memory..", "dev.periscope.vmi.ring..",
                    "dev.periscope.vmi.nativeapi..", "dev.periscope.vmi.driver.xen..")
            .should().dependOnClassesThat().haveFullyQualifiedName("java.lang.foreign.MemorySegment")
            .orShould().dependOnClassesThat().haveFullyQualifiedName("java.lang.foreign.Arena")
            .because("guest memory is copied out of native memory in one wrapper package (STYLE habit 3)");

    @ArchTest
    static final ArchRule generatedBindingsOnlyBehindTheirWrappers = noClasses()
            .that().resideOutsideOfPackages("dev.periscope.vmi.nativeapi..", "dev.periscope.vmi.ring..",
                    "dev.periscope.vmi.driver.xen..")
            .should().dependOnClassesThat().resideInAPackage("dev.periscope.vmi.nativeapi..")
            .allowEmptyShould(true)
            .because("jextract bindings are used only by the ring reader and the Xen driver (STYLE habit 2)");
}
