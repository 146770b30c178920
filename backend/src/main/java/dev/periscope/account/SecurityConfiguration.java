package dev.periscope.account;

import dev.periscope.audit.Audit;
import dev.periscope.caller.Caller;
import dev.periscope.caller.Role;
import dev.periscope.system.RateLimiter;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.security.authentication.BadCredentialsException;
import org.springframework.security.authentication.ReactiveAuthenticationManager;
import org.springframework.security.authentication.UsernamePasswordAuthenticationToken;
import org.springframework.security.config.web.server.SecurityWebFiltersOrder;
import org.springframework.security.config.web.server.ServerHttpSecurity;
import org.springframework.security.core.Authentication;
import org.springframework.security.core.context.ReactiveSecurityContextHolder;
import org.springframework.security.crypto.factory.PasswordEncoderFactories;
import org.springframework.security.crypto.password.PasswordEncoder;
import org.springframework.security.web.server.DelegatingServerAuthenticationEntryPoint;
import org.springframework.security.web.server.DelegatingServerAuthenticationEntryPoint.DelegateEntry;
import org.springframework.security.web.server.SecurityWebFilterChain;
import org.springframework.security.web.server.authentication.AuthenticationWebFilter;
import org.springframework.security.web.server.authentication.HttpStatusServerEntryPoint;
import org.springframework.security.web.server.authentication.RedirectServerAuthenticationEntryPoint;
import org.springframework.security.web.server.authentication.RedirectServerAuthenticationFailureHandler;
import org.springframework.security.web.server.authentication.RedirectServerAuthenticationSuccessHandler;
import org.springframework.security.web.server.authentication.ServerAuthenticationEntryPointFailureHandler;
import org.springframework.security.web.server.authentication.logout.RedirectServerLogoutSuccessHandler;
import org.springframework.security.web.server.csrf.CsrfWebFilter;
import org.springframework.security.web.server.header.CrossOriginOpenerPolicyServerHttpHeadersWriter.CrossOriginOpenerPolicy;
import org.springframework.security.web.server.util.matcher.PathPatternParserServerWebExchangeMatcher;
import org.springframework.security.web.server.util.matcher.ServerWebExchangeMatcher;
import org.springframework.security.web.server.util.matcher.ServerWebExchangeMatcher.MatchResult;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import reactor.core.publisher.Mono;

/**
 * Browsers log in with a form (session cookie, CSRF protected) against the user table; tools send
 * {@code Authorization: Bearer TOKEN} (the bootstrap operator token from the var directory, or a database token).
 * API calls without credentials get 401, pages redirect to the login form. The actuator on this port is for operators,
 * except health (ObservabilityConfiguration). Failed logins are counted per client address and per user name, token
 * use per principal: past the limits a 429 problem with {@code Retry-After}. Logins and logouts are audited.
 * Every response carries a content security policy that allows scripts and styles from this server only (no inline
 * script, no evaluated code, no style attributes) and no framing; HSTS is sent on HTTPS requests.
 */
@Configuration(proxyBeanMethods = false)
class SecurityConfiguration {

    private static final String BEARER = "Bearer ";
    static final String CONTENT_SECURITY_POLICY = policy("'self'");
    /** Swagger UI's bundle applies inline styles; its scripts are files like everyone else's. */
    static final String SWAGGER_UI_POLICY = policy("'self' 'unsafe-inline'");
    static final String PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), usb=(), payment=()";

    private static String policy(String styles) {
        return "default-src 'self'; script-src 'self'; style-src " + styles + "; img-src 'self' data:; "
                + "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
                + "frame-ancestors 'none'";
    }

    @Bean
    SecurityWebFilterChain securityWebFilterChain(ServerHttpSecurity http, BootstrapCredentials credentials,
                                                  Accounts accounts, Audit audit, RateLimiter limiter) {
        ServerWebExchangeMatcher api = new PathPatternParserServerWebExchangeMatcher("/api/**");
        var apiEntryPoint = new HttpStatusServerEntryPoint(HttpStatus.UNAUTHORIZED);
        var entryPoint = new DelegatingServerAuthenticationEntryPoint(new DelegateEntry(api, apiEntryPoint));
        entryPoint.setDefaultEntryPoint(new RedirectServerAuthenticationEntryPoint("/login"));

        AuthenticationWebFilter bearer = new AuthenticationWebFilter(bearerTokens(credentials, accounts));
        bearer.setServerAuthenticationConverter(exchange -> {
            String token = bearerToken(exchange);
            return token == null ? Mono.empty() : Mono.just(new UsernamePasswordAuthenticationToken(null, token));
        });
        var unauthorized = new ServerAuthenticationEntryPointFailureHandler(apiEntryPoint);
        bearer.setAuthenticationFailureHandler((filterExchange, failure) -> {
            String client = clientAddress(filterExchange.getExchange());
            limiter.loginFailed(client);
            return audit.record("token@" + client, null, "LOGIN_FAILURE", "bearer", "denied", failure.getMessage())
                    .then(unauthorized.onAuthenticationFailure(filterExchange, failure));
        });

        var toHome = new RedirectServerAuthenticationSuccessHandler("/");
        var toLoginError = new RedirectServerAuthenticationFailureHandler("/login?error");
        var toLoggedOut = new RedirectServerLogoutSuccessHandler();
        toLoggedOut.setLogoutSuccessUrl(URI.create("/login?logout"));

        return http
                .authorizeExchange(exchanges -> exchanges
                        .pathMatchers("/actuator/health", "/login", "/css/**", "/js/**", "/favicon.ico", "/favicon.svg",
                                "/v3/api-docs/**", "/swagger-ui.html", "/swagger-ui/**", "/webjars/**").permitAll()
                        // The rest of the actuator on this port (its links, Prometheus): the whole fleet's figures,
                        // hosts and VMs by name, so operators only.
                        .pathMatchers("/actuator/**").hasRole(Role.OPERATOR.name())
                        .anyExchange().authenticated())
                .addFilterAt(bearer, SecurityWebFiltersOrder.AUTHENTICATION)
                .addFilterAfter(tokenUseLimit(limiter), SecurityWebFiltersOrder.AUTHENTICATION)
                .formLogin(form -> form.loginPage("/login")
                        .authenticationSuccessHandler((exchange, authentication) -> {
                            Caller caller = ((PeriscopeUser) authentication.getPrincipal()).caller();
                            return audit.record(caller, caller.tenantId(), "LOGIN_SUCCESS", "form", "ok",
                                            "from " + clientAddress(exchange.getExchange()))
                                    .then(toHome.onAuthenticationSuccess(exchange, authentication));
                        })
                        .authenticationFailureHandler((exchange, failure) -> {
                            String client = clientAddress(exchange.getExchange());
                            limiter.loginFailed(client);
                            return exchange.getExchange().getFormData()
                                    .map(data -> String.valueOf(data.getFirst("username")))
                                    .defaultIfEmpty("?")
                                    .doOnNext(limiter::userLoginFailed)
                                    .flatMap(user -> audit.record(user, null, "LOGIN_FAILURE", "form", "denied",
                                            failure.getMessage() + " from " + client))
                                    .then(toLoginError.onAuthenticationFailure(exchange, failure));
                        }))
                .logout(logout -> logout.logoutSuccessHandler((exchange, authentication) -> {
                    Mono<Void> recorded = authentication != null
                            && authentication.getPrincipal() instanceof PeriscopeUser user
                            ? audit.record(user.caller(), user.caller().tenantId(), "LOGOUT", "form", "ok",
                            "from " + clientAddress(exchange.getExchange()))
                            : Mono.empty();
                    return recorded.then(toLoggedOut.onLogoutSuccess(exchange, authentication));
                }))
                .httpBasic(ServerHttpSecurity.HttpBasicSpec::disable)
                .headers(headers -> headers
                        .writer(exchange -> Mono.fromRunnable(() -> exchange.getResponse().getHeaders()
                                .set("Content-Security-Policy",
                                        exchange.getRequest().getPath().value().startsWith("/swagger-ui/")
                                                ? SWAGGER_UI_POLICY : CONTENT_SECURITY_POLICY)))
                        .permissionsPolicy(permissions -> permissions.policy(PERMISSIONS_POLICY))
                        .crossOriginOpenerPolicy(coop -> coop.policy(CrossOriginOpenerPolicy.SAME_ORIGIN))
                        .hsts(hsts -> hsts.maxAge(Duration.ofDays(365)).includeSubdomains(true)))
                // Bearer-token requests cannot be forged by another site, so only cookie sessions need CSRF tokens.
                .csrf(csrf -> csrf.requireCsrfProtectionMatcher(SecurityConfiguration::needsCsrfToken)
                        .accessDeniedHandler((exchange, denied) -> problem(exchange, HttpStatus.FORBIDDEN, "Forbidden",
                                "missing or wrong CSRF token: send the page's X-CSRF-TOKEN header "
                                        + "(or use a bearer token)")))
                .exceptionHandling(handling -> handling.authenticationEntryPoint(entryPoint))
                .build();
    }

    /**
     * Refuses login attempts and bearer requests from a client address that failed too often, and login attempts as a
     * user name that failed too often from anywhere (before security).
     */
    @Bean
    @Order(Ordered.HIGHEST_PRECEDENCE)
    WebFilter loginFailureLimit(RateLimiter limiter) {
        return (exchange, chain) -> {
            boolean login = exchange.getRequest().getMethod() == HttpMethod.POST
                    && exchange.getRequest().getPath().value().equals("/login");
            if (!login && bearerToken(exchange) == null) {
                return chain.filter(exchange);
            }
            long wait = limiter.loginBlockedFor(clientAddress(exchange));
            if (wait > 0) {
                return tooManyRequests(exchange, wait,
                        "too many failed logins from this address; retry in " + wait + " s");
            }
            if (!login) {
                return chain.filter(exchange);
            }
            return exchange.getFormData()
                    .map(data -> limiter.userBlockedFor(String.valueOf(data.getFirst("username"))))
                    .flatMap(userWait -> userWait == 0 ? chain.filter(exchange) : tooManyRequests(exchange, userWait,
                            "too many failed logins as this user; retry in " + userWait + " s"));
        };
    }

    private static WebFilter tokenUseLimit(RateLimiter limiter) {
        return (exchange, chain) -> {
            if (bearerToken(exchange) == null) {
                return chain.filter(exchange);
            }
            return ReactiveSecurityContextHolder.getContext()
                    .map(context -> context.getAuthentication() == null ? "" : context.getAuthentication().getName())
                    .defaultIfEmpty("")
                    .flatMap(name -> {
                        long wait = name.isEmpty() ? 0 : limiter.use("token:" + name);
                        return wait == 0 ? chain.filter(exchange) : tooManyRequests(exchange, wait,
                                "request rate of '" + name + "' over its limit; retry in " + wait + " s");
                    });
        };
    }

    static Mono<Void> tooManyRequests(ServerWebExchange exchange, long retryAfterSeconds, String detail) {
        exchange.getResponse().getHeaders().set(HttpHeaders.RETRY_AFTER, Long.toString(retryAfterSeconds));
        return problem(exchange, HttpStatus.TOO_MANY_REQUESTS, "Too Many Requests", detail);
    }

    /** An RFC 9457 problem written by a filter, before any controller (or its error handling) is involved. */
    private static Mono<Void> problem(ServerWebExchange exchange, HttpStatus status, String title, String detail) {
        var response = exchange.getResponse();
        response.setStatusCode(status);
        response.getHeaders().setContentType(MediaType.APPLICATION_PROBLEM_JSON);
        String body = "{\"type\":\"about:blank\",\"title\":\"" + title + "\",\"status\":" + status.value()
                + ",\"detail\":\"" + detail.replace("\\", "\\\\").replace("\"", "\\\"") + "\",\"instance\":\""
                + exchange.getRequest().getPath().value().replace("\\", "").replace("\"", "") + "\"}";
        DataBuffer buffer = response.bufferFactory().wrap(body.getBytes(StandardCharsets.UTF_8));
        return response.writeWith(Mono.just(buffer));
    }

    private static String bearerToken(ServerWebExchange exchange) {
        String header = exchange.getRequest().getHeaders().getFirst(HttpHeaders.AUTHORIZATION);
        return header == null || !header.startsWith(BEARER) ? null : header.substring(BEARER.length()).strip();
    }

    static String clientAddress(ServerWebExchange exchange) {
        InetSocketAddress remote = exchange.getRequest().getRemoteAddress();
        return remote == null || remote.getAddress() == null ? "unknown" : remote.getAddress().getHostAddress();
    }

    private static Mono<MatchResult> needsCsrfToken(ServerWebExchange exchange) {
        // Any other Authorization header (Basic, a bare word) leaves the session's login in place: it needs the token.
        boolean bearerRequest = bearerToken(exchange) != null;
        return CsrfWebFilter.DEFAULT_CSRF_MATCHER.matches(exchange)
                .flatMap(result -> result.isMatch() && !bearerRequest ? MatchResult.match() : MatchResult.notMatch());
    }

    private static ReactiveAuthenticationManager bearerTokens(BootstrapCredentials credentials, Accounts accounts) {
        return authentication -> {
            String token = String.valueOf(authentication.getCredentials());
            Mono<Caller> caller = credentials.isOperatorToken(token)
                    ? Mono.just(Caller.operator(BootstrapCredentials.OPERATOR))
                    : accounts.authenticateToken(token);
            return caller
                    .switchIfEmpty(Mono.error(new BadCredentialsException("invalid, expired or revoked API token")))
                    .map(c -> {
                        PeriscopeUser user = new PeriscopeUser(c, null, true);
                        return (Authentication) new UsernamePasswordAuthenticationToken(user, null,
                                user.getAuthorities());
                    });
        };
    }

    @Bean
    PasswordEncoder passwordEncoder() {
        return PasswordEncoderFactories.createDelegatingPasswordEncoder();
    }
}
