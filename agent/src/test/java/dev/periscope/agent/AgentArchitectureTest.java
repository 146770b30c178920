package dev.periscope.agent;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/** The agent's structure (docs/ARCHITECTURE.md, "The fleet"): its packages without cycles, sessions behind a seam. */
@AnalyzeClasses(packages = "dev.periscope.agent", importOptions = ImportOption.DoNotIncludeTests.class)
class AgentArchitectureTest {

    /** The agent, its sessions and the generated API are slices; none depends on itself through another. */
    @ArchTest
    static final ArchRule noPackageCycles = slices().matching("dev.periscope.(**)").should().beFreeOfCycles();

    @ArchTest
    static final ArchRule sessionsReachTheEngineThroughTheirSeam = noClasses()
            .that().resideInAPackage("dev.periscope.agent.session..")
            .should().dependOnClassesThat().haveFullyQualifiedName("dev.periscope.vmi.VmiEngine")
            .because("sessions call the engine through AgentSessions.Engine, on the agent's bounded engine executor");
}
