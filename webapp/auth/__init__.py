"""Browser sign-in, the acting organization, role checks for pages."""
