"""Lambda entry point of the 'reads' function: the routes the route table gives 'reads'."""

from prepkit.api.lambda_entry import make_handler

handler = make_handler("reads")
