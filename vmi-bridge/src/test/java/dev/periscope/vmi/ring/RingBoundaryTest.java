package dev.periscope.vmi.ring;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

/** Only dev.periscope.vmi.ring may touch the generated ring bindings (three-tier native boundary). */
class RingBoundaryTest {

    @Test
    void onlyTheRingPackageUsesTheGeneratedBindings() {
        JavaClasses classes = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("dev.periscope");
        noClasses().that().resideOutsideOfPackages("dev.periscope.vmi.ring", "dev.periscope.vmi.nativeapi.ring")
                .should().dependOnClassesThat().resideInAPackage("dev.periscope.vmi.nativeapi.ring")
                .check(classes);
    }
}
