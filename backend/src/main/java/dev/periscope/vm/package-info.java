/** Virtual machines: the fleet the platform drivers report, over REST and as the dashboard's fleet page. */
package dev.periscope.vm;
