package dev.periscope.account;

import dev.periscope.audit.Audit;
import dev.periscope.caller.Caller;
import dev.periscope.system.RateLimiter;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
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
import org.springframework.security.web.server.csrf.CsrfWebFilter;
import org.springframework.security.web.server.util.matcher.PathPatternParserServerWebExchangeMatcher;
import org.springframework.security.web.server.util.matcher.ServerWebExchangeMatcher;
import org.springframework.security.web.server.util.matcher.ServerWebExchangeMatcher.MatchResult;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import reactor.core.publisher.Mono;

/**
 * Browsers log in with a form (session cookie, CSRF protected) against the user table; tools send
 * {@code Authorization: Bearer TOKEN} (the bootstrap operator token from the var directory, or a database token).
 * API calls without credentials get 401, pages redirect to the login form. Failed logins are counted per client
 * address and token use per principal: past the limits a 429 problem with {@code Retry-After}.
 */
@Configuration(proxyBeanMethods = false)
class SecurityConfiguration {

    private static final String BEARER = "Bearer ";

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

        return http
                .authorizeExchange(exchanges -> exchanges
                        .pathMatchers("/actuator/health", "/login", "/css/**", "/js/**", "/favicon.ico", "/favicon.svg",
                                "/v3/api-docs/**", "/swagger-ui.html", "/swagger-ui/**", "/webjars/**").permitAll()
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
                                    .flatMap(user -> audit.record(user, null, "LOGIN_FAILURE", "form", "denied",
                                            failure.getMessage() + " from " + client))
                                    .then(toLoginError.onAuthenticationFailure(exchange, failure));
                        }))
                .httpBasic(ServerHttpSecurity.HttpBasicSpec::disable)
                // Bearer-token requests cannot be forged by another site, so only cookie sessions need CSRF tokens.
                .csrf(csrf -> csrf.requireCsrfProtectionMatcher(SecurityConfiguration::needsCsrfToken))
                .exceptionHandling(handling -> handling.authenticationEntryPoint(entryPoint))
                .build();
    }

    /** Refuses login attempts and bearer requests from a client address that failed too often (before security). */
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
            return wait == 0 ? chain.filter(exchange)
                    : tooManyRequests(exchange, wait, "too many failed logins from this address; retry in " + wait + " s");
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
        var response = exchange.getResponse();
        response.setStatusCode(HttpStatus.TOO_MANY_REQUESTS);
        response.getHeaders().set(HttpHeaders.RETRY_AFTER, Long.toString(retryAfterSeconds));
        response.getHeaders().setContentType(MediaType.APPLICATION_PROBLEM_JSON);
        String body = "{\"type\":\"about:blank\",\"title\":\"Too Many Requests\",\"status\":429,\"detail\":\""
                + detail.replace("\\", "\\\\").replace("\"", "\\\"") + "\",\"instance\":\""
                + exchange.getRequest().getPath().value().replace("\"", "") + "\"}";
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
        boolean bearerRequest = exchange.getRequest().getHeaders().containsHeader(HttpHeaders.AUTHORIZATION);
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
