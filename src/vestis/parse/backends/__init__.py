"""Built-in parser backends; importing this package registers them."""

from vestis.parse.backends import whole

__all__ = ["whole"]
