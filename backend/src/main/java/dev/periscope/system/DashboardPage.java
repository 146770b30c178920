package dev.periscope.system;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.springframework.core.annotation.AliasFor;
import org.springframework.stereotype.Controller;

/**
 * A controller that renders dashboard pages (HTML). Its errors become the dashboard's error page
 * ({@link PageErrors}) instead of the problem-detail JSON the REST API answers with.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Controller
public @interface DashboardPage {

    @AliasFor(annotation = Controller.class)
    String value() default "";
}
