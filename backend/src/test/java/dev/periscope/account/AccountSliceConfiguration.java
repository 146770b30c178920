package dev.periscope.account;

import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.context.annotation.Import;

/** The account package's part of a web slice: the real security setup, bootstrap operator, accounts, login page. */
@TestConfiguration(proxyBeanMethods = false)
@Import({SecurityConfiguration.class, BootstrapCredentials.class, BootstrapOperator.class, PageSupport.class,
        Accounts.class})
public class AccountSliceConfiguration {
}
