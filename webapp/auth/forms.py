from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

MIN_PASSWORD_LENGTH = 8


class LoginForm(FlaskForm):
    # Signing in looks the address up; it does not judge whether mail could reach it.
    email = StringField("Email", validators=[DataRequired(), Length(max=320)], render_kw={"autocomplete": "username"})
    password = PasswordField("Password", validators=[DataRequired()], render_kw={"autocomplete": "current-password"})


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()], render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(
        "New password",
        validators=[
            DataRequired(),
            Length(
                min=MIN_PASSWORD_LENGTH, max=200, message=f"A password has at least {MIN_PASSWORD_LENGTH} characters (and at most 200)."
            ),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[EqualTo("new_password", "The two passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )
