"""The one error the renderer raises: a template that cannot be compiled or rendered."""


class TemplateRenderError(Exception):
    """A template that cannot be compiled or rendered; the message says why, with the line if known."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None):
        self.message = message
        self.field = field
        self.line = line
        super().__init__(message)

    def __str__(self) -> str:
        where = ", ".join(part for part in (self.field, self.line and f"line {self.line}") if part)
        return f"{where}: {self.message}" if where else self.message

    def as_error(self) -> dict:
        """The error as the ``{field, message}`` item that validation lists carry."""
        message = f"line {self.line}: {self.message}" if self.line else self.message
        return {"field": self.field, "message": message}


def refuse(message: str):
    """Stop the render in progress: a template asked for more than its budget allows."""
    raise TemplateRenderError(message)
