package dev.periscope.system;

import java.util.List;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.security.authentication.BadCredentialsException;
import org.springframework.security.authentication.ReactiveAuthenticationManager;
import org.springframework.security.authentication.UsernamePasswordAuthenticationToken;
import org.springframework.security.config.web.server.SecurityWebFiltersOrder;
import org.springframework.security.config.web.server.ServerHttpSecurity;
import org.springframework.security.core.Authentication;
import org.springframework.security.core.authority.SimpleGrantedAuthority;
import org.springframework.security.core.userdetails.MapReactiveUserDetailsService;
import org.springframework.security.core.userdetails.User;
import org.springframework.security.crypto.factory.PasswordEncoderFactories;
import org.springframework.security.crypto.password.PasswordEncoder;
import org.springframework.security.web.server.SecurityWebFilterChain;
import org.springframework.security.web.server.authentication.AuthenticationWebFilter;
import org.springframework.security.web.server.authentication.HttpStatusServerEntryPoint;
import org.springframework.security.web.server.authentication.RedirectServerAuthenticationEntryPoint;
import org.springframework.security.web.server.authentication.ServerAuthenticationEntryPointFailureHandler;
import org.springframework.security.web.server.util.matcher.PathPatternParserServerWebExchangeMatcher;
import org.springframework.security.web.server.util.matcher.ServerWebExchangeMatcher;
import org.springframework.security.web.server.util.matcher.ServerWebExchangeMatcher.MatchResult;
import org.springframework.security.web.server.csrf.CsrfWebFilter;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.security.web.server.DelegatingServerAuthenticationEntryPoint;
import org.springframework.security.web.server.DelegatingServerAuthenticationEntryPoint.DelegateEntry;
import reactor.core.publisher.Mono;

/**
 * Browsers log in with a form (session cookie, CSRF protected); tools send {@code Authorization: Bearer TOKEN}.
 * API calls without credentials get 401, pages redirect to the login form.
 */
@Configuration(proxyBeanMethods = false)
class SecurityConfiguration {

    private static final String BEARER = "Bearer ";
    private static final List<SimpleGrantedAuthority> OPERATOR_AUTHORITIES =
            List.of(new SimpleGrantedAuthority("ROLE_OPERATOR"));

    @Bean
    SecurityWebFilterChain securityWebFilterChain(ServerHttpSecurity http, BootstrapCredentials credentials) {
        ServerWebExchangeMatcher api = new PathPatternParserServerWebExchangeMatcher("/api/**");
        var apiEntryPoint = new HttpStatusServerEntryPoint(HttpStatus.UNAUTHORIZED);
        var entryPoint = new DelegatingServerAuthenticationEntryPoint(new DelegateEntry(api, apiEntryPoint));
        entryPoint.setDefaultEntryPoint(new RedirectServerAuthenticationEntryPoint("/login"));

        AuthenticationWebFilter bearer = new AuthenticationWebFilter(bearerTokens(credentials));
        bearer.setServerAuthenticationConverter(exchange -> {
            String header = exchange.getRequest().getHeaders().getFirst(HttpHeaders.AUTHORIZATION);
            if (header == null || !header.startsWith(BEARER)) {
                return Mono.empty();
            }
            String token = header.substring(BEARER.length()).strip();
            return Mono.just(new UsernamePasswordAuthenticationToken(null, token));
        });
        bearer.setAuthenticationFailureHandler(new ServerAuthenticationEntryPointFailureHandler(apiEntryPoint));

        return http
                .authorizeExchange(exchanges -> exchanges
                        .pathMatchers("/actuator/health", "/login", "/css/**", "/js/**", "/favicon.ico").permitAll()
                        .anyExchange().authenticated())
                .addFilterAt(bearer, SecurityWebFiltersOrder.AUTHENTICATION)
                .formLogin(form -> form.loginPage("/login"))
                .httpBasic(ServerHttpSecurity.HttpBasicSpec::disable)
                // Bearer-token requests cannot be forged by another site, so only cookie sessions need CSRF tokens.
                .csrf(csrf -> csrf.requireCsrfProtectionMatcher(SecurityConfiguration::needsCsrfToken))
                .exceptionHandling(handling -> handling.authenticationEntryPoint(entryPoint))
                .build();
    }

    private static Mono<MatchResult> needsCsrfToken(ServerWebExchange exchange) {
        boolean bearerRequest = exchange.getRequest().getHeaders().containsHeader(HttpHeaders.AUTHORIZATION);
        return CsrfWebFilter.DEFAULT_CSRF_MATCHER.matches(exchange)
                .flatMap(result -> result.isMatch() && !bearerRequest ? MatchResult.match() : MatchResult.notMatch());
    }

    private static ReactiveAuthenticationManager bearerTokens(BootstrapCredentials credentials) {
        return authentication -> {
            String token = String.valueOf(authentication.getCredentials());
            if (!credentials.isOperatorToken(token)) {
                return Mono.error(new BadCredentialsException("invalid or expired API token"));
            }
            Authentication operator = new UsernamePasswordAuthenticationToken(
                    BootstrapCredentials.OPERATOR, null, OPERATOR_AUTHORITIES);
            return Mono.just(operator);
        };
    }

    @Bean
    MapReactiveUserDetailsService users(BootstrapCredentials credentials, PasswordEncoder encoder) {
        return new MapReactiveUserDetailsService(User.withUsername(BootstrapCredentials.OPERATOR)
                .password(encoder.encode(credentials.operatorPassword()))
                .roles("OPERATOR")
                .build());
    }

    @Bean
    PasswordEncoder passwordEncoder() {
        return PasswordEncoderFactories.createDelegatingPasswordEncoder();
    }
}
