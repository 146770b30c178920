package dev.periscope;

import dev.periscope.cli.Client;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;

/**
 * The Periscope server. The same jar is the command-line client: {@code java -jar periscope-server.jar ps VM}
 * talks to a running server over REST instead of starting one.
 */
@SpringBootApplication
@ConfigurationPropertiesScan
public class PeriscopeApplication {

    public static void main(String[] args) {
        if (Client.handles(args)) {
            System.exit(Client.run(args));
        }
        SpringApplication.run(PeriscopeApplication.class, args);
    }
}
