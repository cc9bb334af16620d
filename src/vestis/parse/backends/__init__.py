"""Built-in parser backends; importing this package registers them."""

from vestis.parse.backends import lite_parser, test_figure, whole

__all__ = ["lite_parser", "test_figure", "whole"]
