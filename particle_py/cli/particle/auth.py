"""`particle login`, `particle logout`, `particle whoami`.

Tokens live in particle-cli's own config (~/.particle/<profile>.config.json, 0600),
so particle-cli and particle-py share one login. A token is never printed.
"""
from __future__ import annotations

from typing import Optional

import typer

MFA_HELP = ("Use your authenticator app on your mobile device to get a login code.\n"
            "Lost access to your device? Visit https://login.particle.io/account-info")


def register(app) -> None:
    @app.command("login", help="Login to the cloud and store an access token locally")
    def login(username: Optional[str] = typer.Option(None, "--username", "-u", help="your username"),
              password: Optional[str] = typer.Option(None, "--password", "-p", help="your password"),
              token: Optional[str] = typer.Option(None, "--token", "-t", help="an existing Particle access token "
                                                                               "to use"),
              otp: Optional[str] = typer.Option(None, "--otp", help="the login code if two-step authentication "
                                                                    "is enabled")):
        from particle_py.cloud.api import MfaRequired, client_from_config
        from particle_py.cloud.config import Settings

        settings = Settings()
        api = client_from_config(settings)
        api.token = None
        if token:
            api.token = token
            user = api.whoami()
            settings.update(access_token=token, username=user.get("username"), access_token_expires_at=None)
            typer.echo("> Successfully completed login!")
            return
        username = username or typer.prompt("? Please enter your email address")
        password = password or typer.prompt("? Please enter your password", hide_input=True)
        try:
            answer = api.login(username, password)
        except MfaRequired as mfa:
            if not otp:
                typer.echo(MFA_HELP)
                otp = typer.prompt("? Please enter a login code")
            answer = api.login_otp(mfa.mfa_token, otp.strip())
        settings.update(access_token=answer["access_token"], username=username, access_token_expires_at=None)
        typer.echo("> Successfully completed login!")

    @app.command("logout", help="Log out of your session and clear your saved access token")
    def logout():
        from particle_py.cloud.api import client_from_config
        from particle_py.cloud.config import Settings
        from particle_py.errors import ParticlePyError

        settings = Settings()
        if not settings.access_token:
            if "access_token" in settings.values:      # not a usable token, but still forget it
                settings.update(access_token=None, username=None, access_token_expires_at=None)
            typer.echo("You were already logged out.")
            return
        username = settings.username or "your account"
        revoked = True
        try:
            client_from_config(settings).revoke_current_token()
        except ParticlePyError:
            revoked = False         # offline or already invalid: still forget it locally
        settings.update(access_token=None, username=None, access_token_expires_at=None)
        typer.echo(f"You have been logged out from {username}.")
        if not revoked:
            typer.echo("The cloud could not be reached to revoke the token; it was removed from this computer.")

    @app.command("whoami", help="prints signed-in username")
    def whoami():
        from particle_py.cloud.api import client_from_config, not_logged_in
        from particle_py.cloud.config import Settings

        settings = Settings()
        if not settings.access_token:
            raise not_logged_in()
        user = client_from_config(settings).whoami()
        typer.echo(user.get("username") or settings.username or "")
