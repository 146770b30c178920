package dev.periscope.security;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.AppenderBase;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.config.BeanFactoryPostProcessor;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;

/**
 * Keeps everything the application logs from the moment its context starts to refresh (after Spring Boot configured
 * logging, before any bean exists): each event's message and stack trace, as the console shows them, with Periscope's
 * own loggers and Spring's HTTP codecs (which print decoded request and encoded response bodies) at DEBUG. Imported into
 * the test's context; {@link #text()} is what a secrets scan reads. Another context's start resets logging: tests
 * attach again before each test and {@link #release} the levels when done.
 */
final class LogCapture implements BeanFactoryPostProcessor {

    private static final int MAX_CHARS = 16 << 20;
    private static final String[] DEBUG = {"dev.periscope", "org.springframework.web.HttpLogging"};
    private static final StringBuilder TEXT = new StringBuilder();

    @Override
    public void postProcessBeanFactory(ConfigurableListableBeanFactory beanFactory) {
        attach();
    }

    /** Adds the capturing appender to the root logger, unless it is there (another context's start may reset it). */
    static void attach() {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        for (String name : DEBUG) {
            context.getLogger(name).setLevel(Level.DEBUG);
        }
        Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        if (root.getAppender("secrets-scan") != null) {
            return;
        }
        AppenderBase<ILoggingEvent> appender = new AppenderBase<>() {
            @Override
            protected void append(ILoggingEvent event) {
                IThrowableProxy thrown = event.getThrowableProxy();
                synchronized (TEXT) {
                    if (TEXT.length() < MAX_CHARS) {
                        TEXT.append(event.getLevel()).append(' ').append(event.getLoggerName()).append(" : ")
                                .append(event.getFormattedMessage()).append('\n');
                        if (thrown != null) {
                            TEXT.append(ThrowableProxyUtil.asString(thrown)).append('\n');
                        }
                    }
                }
            }
        };
        appender.setName("secrets-scan");
        appender.setContext(context);
        appender.start();
        root.addAppender(appender);
    }

    /** Gives the DEBUG loggers back their configured levels (the capture goes on until logging is reset). */
    static void release() {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        for (String name : DEBUG) {
            context.getLogger(name).setLevel(null);
        }
    }

    /** Everything logged so far. */
    static String text() {
        synchronized (TEXT) {
            return TEXT.toString();
        }
    }
}
