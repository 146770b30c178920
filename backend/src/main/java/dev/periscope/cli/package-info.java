/** The command-line client: the server jar run with a command talks to a running server over REST. */
package dev.periscope.cli;
