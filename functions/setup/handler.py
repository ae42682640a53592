"""Lambda entry point of the 'setup' function: the routes the route table gives 'setup'."""

from prepkit.api.lambda_entry import make_handler

handler = make_handler("setup")
