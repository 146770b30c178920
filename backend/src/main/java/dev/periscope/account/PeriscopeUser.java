package dev.periscope.account;

import dev.periscope.caller.Caller;
import java.util.Collection;
import java.util.List;
import org.springframework.security.core.CredentialsContainer;
import org.springframework.security.core.GrantedAuthority;
import org.springframework.security.core.authority.SimpleGrantedAuthority;
import org.springframework.security.core.userdetails.UserDetails;

/** The security principal of a logged-in user or token: carries its {@link Caller}. */
public final class PeriscopeUser implements UserDetails, CredentialsContainer {

    private final Caller caller;
    private String passwordHash;
    private final boolean enabled;

    public PeriscopeUser(Caller caller, String passwordHash, boolean enabled) {
        this.caller = caller;
        this.passwordHash = passwordHash;
        this.enabled = enabled;
    }

    public Caller caller() {
        return caller;
    }

    @Override
    public Collection<? extends GrantedAuthority> getAuthorities() {
        return List.of(new SimpleGrantedAuthority("ROLE_" + caller.role().name()));
    }

    @Override
    public String getPassword() {
        return passwordHash;
    }

    @Override
    public String getUsername() {
        return caller.username();
    }

    @Override
    public boolean isEnabled() {
        return enabled;
    }

    @Override
    public void eraseCredentials() {
        passwordHash = null;
    }

    @Override
    public String toString() {
        return "PeriscopeUser[" + caller + "]";
    }
}
