package dev.periscope;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/**
 * The control plane's structure (docs/ARCHITECTURE.md, "The control plane"): feature packages without cycles, and
 * the engine reached only through agents, so no engine call can run on a request thread or the event loop.
 */
@AnalyzeClasses(packages = "dev.periscope", importOptions = ImportOption.DoNotIncludeTests.class)
class BackendArchitectureTest {

    private static final String[] ENGINE_SIDE = {"dev.periscope.vmi..", "dev.periscope.agent.."};

    /** Each top-level package (account, audit, session, fleet, ...) is one slice; none may depend on itself. */
    @ArchTest
    static final ArchRule noPackageCycles = slices().matching("dev.periscope.(*)..").should().beFreeOfCycles();

    @ArchTest
    static final ArchRule onlyTheFleetTalksToAgents = noClasses()
            .that().resideOutsideOfPackages("dev.periscope.fleet..", "dev.periscope.agent..")
            .should().dependOnClassesThat().resideInAPackage("dev.periscope.agent..")
            .because("the fleet package is the control plane's one adapter of the agent API");

    @ArchTest
    static final ArchRule noEngineInTheControlPlane = noClasses()
            .that().resideOutsideOfPackages(ENGINE_SIDE)
            .should().dependOnClassesThat().haveFullyQualifiedName("dev.periscope.vmi.VmiEngine")
            .because("engine calls run in an agent, on its bounded engine executor; the control plane only asks");

    @ArchTest
    static final ArchRule driversOnlyInTheEmbeddedAgent = noClasses()
            .that().resideOutsideOfPackages(ENGINE_SIDE)
            .and().doNotHaveFullyQualifiedName("dev.periscope.fleet.EmbeddedAgent")
            .should().dependOnClassesThat().areAssignableTo("dev.periscope.vmi.driver.HypervisorDriver")
            .because("the embedded agent is the one place the control plane's process opens this host's platforms");
}
