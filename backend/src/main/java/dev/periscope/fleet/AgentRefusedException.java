package dev.periscope.fleet;

/**
 * The control plane will not use an agent, though TLS accepted it (the CA signed its certificate): its certificate
 * binds it to no tenant it can name. The message says why; the agent's host view shows it.
 */
final class AgentRefusedException extends Exception {

    AgentRefusedException(String why) {
        super(why);
    }
}
