"""Lambda entry point of the 'start' function: the routes the route table gives 'start'."""

from prepkit.api.lambda_entry import make_handler

handler = make_handler("start")
