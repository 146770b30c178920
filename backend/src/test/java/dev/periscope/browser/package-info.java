/** Browser tests: the dashboard in headless Chromium against the whole application and a real lab guest. */
package dev.periscope.browser;
