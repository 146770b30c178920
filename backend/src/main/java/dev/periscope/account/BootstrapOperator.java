package dev.periscope.account;

import org.springframework.boot.ApplicationArguments;
import org.springframework.boot.ApplicationRunner;
import org.springframework.core.annotation.Order;
import org.springframework.stereotype.Component;

/** Keeps the bootstrap operator in the user table, with the password {@code var/operator.password} holds. */
@Component
@Order(0)
class BootstrapOperator implements ApplicationRunner {

    private final Accounts accounts;
    private final BootstrapCredentials credentials;

    BootstrapOperator(Accounts accounts, BootstrapCredentials credentials) {
        this.accounts = accounts;
        this.credentials = credentials;
    }

    @Override
    public void run(ApplicationArguments args) {
        accounts.ensureOperator(BootstrapCredentials.OPERATOR, credentials.operatorPassword()).block();
    }
}
