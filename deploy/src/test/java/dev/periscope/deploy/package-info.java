/**
 * Tests of the deployment: the Helm chart linted and rendered by the real Helm for several sets of values, its
 * manifests checked; docker-compose.yml validated by Compose; and the compose stack brought up from the locally built
 * images, checked from outside through the ports it publishes on 127.0.0.1.
 */
package dev.periscope.deploy;
