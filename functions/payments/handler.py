"""Lambda entry point of the 'payments' function: the routes the route table gives 'payments'."""

from prepkit.api.lambda_entry import make_handler

handler = make_handler("payments")
