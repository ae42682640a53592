"""Lambda entry point of the 'admin' function: the routes the route table gives 'admin'."""

from prepkit.api.lambda_entry import make_handler

handler = make_handler("admin")
