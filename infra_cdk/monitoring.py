"""Dashboard and alarms: requests, errors, latency per route, pipeline outcomes, fallback rates, AI and
voice cost, money events; alarms on 5xx rate (API Gateway's, and the request log's through a log-metric
filter), pipeline failures, paid sessions without a pipeline, payment mismatches, extra captures
refunded, failed refunds, the rate limiter failing open, webhook signature failures, report fallback
rate and database connections, to an optional e-mail topic."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra_cdk.config import DeployConfig
from prepkit.domain.reconciler import Action
from prepkit.observability import NAMESPACE, SERVICE
from prepkit.routes import ROUTES

FIVE_MINUTES = Duration.minutes(5)


def any_occurrence(scope: Construct, name: str, metric: cw.IMetric, description: str) -> cw.Alarm:
    """An alarm at the first occurrence in a period: for events that should never happen (money, stuck)."""
    return cw.Alarm(
        scope, name, metric=metric, threshold=1, evaluation_periods=1,
        comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cw.TreatMissingData.NOT_BREACHING, alarm_description=description,
    )  # fmt: skip


def app_metric(name: str, statistic: str = "Sum", **dimensions: str) -> cw.Metric:
    """One of the app's own EMF metrics (prepkit.observability): dimensions must match exactly."""
    return cw.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE, **dimensions},
        statistic=statistic,
        period=FIVE_MINUTES,
    )


def expression(formula: str, label: str, **metrics: cw.IMetric) -> cw.MathExpression:
    return cw.MathExpression(expression=formula, using_metrics=metrics, label=label, period=FIVE_MINUTES)


#: the app's money metrics, each alarmed on at its first occurrence
MONEY_METRICS = ("PipelineStartFailed", "PaymentMismatch", "ExtraPaymentRefunded", "RefundFailed")


def reconciler_actions() -> cw.MathExpression:
    """ReconcilerActed (prepkit.domain.flow.reconcile_session) summed over its actions: each one is a
    session whose pipeline had stopped without an end, found and driven to one by the schedule."""
    actions = {
        f"a_{a.value}": app_metric("ReconcilerActed", action=a.value) for a in Action if a is not Action.NONE
    }
    return expression(" + ".join(f"FILL({key}, 0)" for key in actions), "reconciler actions", **actions)


#: the request log line's message (prepkit.api.middleware) that the 5xx log-metric filter reads
REQUEST_LOG_MESSAGE = "request"
#: a CloudWatch alarm on metric math takes at most 10 metrics (a hard limit)
ALARM_METRICS_MAX = 10


def rate_limiter_fail_open_rate(requests: cw.IMetric) -> cw.MathExpression:
    """RateLimiterUnavailable (prepkit.api.deps: the limiter could not answer and let the request
    through) summed over the route table's rate classes, as a percentage of the API's requests."""
    classes = sorted({r.rate_class for r in ROUTES if r.rate_class})
    failed = {f"rl_{c}": app_metric("RateLimiterUnavailable", route_class=c) for c in classes}
    if len(failed) + 1 > ALARM_METRICS_MAX:
        raise ValueError(f"{len(classes)} rate classes: an alarm takes at most {ALARM_METRICS_MAX} metrics")
    total = " + ".join(f"FILL({key}, 0)" for key in failed)
    return expression(
        f"IF(requests > 0, 100 * ({total}) / requests, 0)",
        "rate limiter fail-open %",
        requests=requests,
        **failed,
    )


def logged_server_errors(scope: Construct, functions: dict[str, lambda_.Function]) -> cw.Metric:
    """A log-metric filter on each HTTP function's log group: the request log line (one per request,
    with the status the client got: an unhandled error is logged as 500, not 0) with status >= 500."""
    http_functions = {r.function for r in ROUTES if not r.local_only}
    for name in sorted(http_functions & set(functions)):
        logs.MetricFilter(
            scope,
            f"Logged5xx{name.capitalize()}",
            log_group=functions[name].log_group,
            filter_pattern=logs.FilterPattern.all(
                logs.FilterPattern.string_value("$.message", "=", REQUEST_LOG_MESSAGE),
                logs.FilterPattern.number_value("$.status", ">=", 500),
            ),
            metric_namespace=NAMESPACE,
            metric_name="LoggedServerErrors",
            metric_value="1",
        )
    # no dimensions: every filter adds to the one metric
    return cw.Metric(
        namespace=NAMESPACE, metric_name="LoggedServerErrors", statistic="Sum", period=FIVE_MINUTES
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        api: apigw.HttpApi,
        state_machine: sfn.StateMachine,
        functions: dict[str, lambda_.Function],
        database: Any,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic: sns.Topic | None = None
        if config.alarm_email:
            self.topic = sns.Topic(
                self, "Alarms", display_name=f"PrepKit {config.stage} alarms", enforce_ssl=True
            )
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))

        requests = api.metric_count(period=FIVE_MINUTES)
        server_errors = api.metric_server_error(period=FIVE_MINUTES)
        error_rate = expression(
            "IF(requests > 0, 100 * errors / requests, 0)", "5xx %", requests=requests, errors=server_errors
        )
        report_fallback_rate = expression(
            "IF(done > 0, 100 * fallback / done, 0)",
            "report fallback %",
            fallback=app_metric("ReportFallback"),
            done=app_metric("InterviewCompleted"),
        )
        question_fallback_rate = expression(
            "IF(ai + fb > 0, 100 * fb / (ai + fb), 0)",
            "question fallback %",
            ai=app_metric("QuestionsGenerated", source="ai"),
            fb=app_metric("QuestionsGenerated", source="fallback"),
        )
        signature_failures = expression(
            "rzp + vapi",
            "webhook signature failures",
            rzp=app_metric("WebhookSignatureInvalid", provider="razorpay"),
            vapi=app_metric("WebhookSignatureInvalid", provider="vapi"),
        )
        connections = database.instance.metric_database_connections(period=FIVE_MINUTES)
        fail_open_rate = rate_limiter_fail_open_rate(requests)
        logged_5xx = logged_server_errors(self, functions)

        def latency(method: str, path: str) -> cw.Metric:
            return cw.Metric(
                namespace="AWS/ApiGateway",
                metric_name="Latency",
                dimensions_map={"ApiId": api.api_id, "Stage": "$default", "Resource": path, "Method": method},
                statistic="p95",
                period=FIVE_MINUTES,
                label=f"{method} {path}",
            )

        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=config.name("dashboard"))
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Requests and 5xx", left=[requests], right=[server_errors], width=12),
            cw.GraphWidget(title="5xx rate (%)", left=[error_rate], width=12),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Latency p95 per route",
                left=[latency(r.method, r.path) for r in ROUTES if not r.local_only],
                width=24,
            )
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Pipeline executions by outcome",
                left=[
                    state_machine.metric_succeeded(period=FIVE_MINUTES),
                    state_machine.metric_failed(period=FIVE_MINUTES),
                    state_machine.metric_timed_out(period=FIVE_MINUTES),
                    state_machine.metric_aborted(period=FIVE_MINUTES),
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Interviews: completed, refunded",
                left=[
                    app_metric("InterviewCompleted"),
                    app_metric("Refunded"),
                    app_metric("CallUnassessable"),
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Fallback rates (%)", left=[report_fallback_rate, question_fallback_rate], width=12
            ),
            cw.GraphWidget(
                title="AI and voice cost",
                left=[app_metric("ReportCostMicroUSD")],
                right=[app_metric("VoiceCostMilliUSD")],
                left_y_axis=cw.YAxisProps(label="Gemini, micro-USD"),
                right_y_axis=cw.YAxisProps(label="Vapi, milli-USD"),
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Money: paid without a pipeline, mismatches, extra captures, failed refunds",
                left=[app_metric(name) for name in MONEY_METRICS],
                width=12,
            ),
            cw.GraphWidget(
                title="Rate limiter fail-open (% of requests), 5xx in the request log",
                left=[fail_open_rate],
                right=[logged_5xx],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Webhook signature failures", left=[signature_failures], width=8),
            cw.GraphWidget(title="Database connections", left=[connections], width=8),
            cw.GraphWidget(
                title="Lambda errors",
                left=[fn.metric_errors(period=FIVE_MINUTES) for fn in functions.values()],
                width=8,
            ),
        )

        self.alarms = {
            "Api5xxRate": cw.Alarm(
                self, "Api5xxRate", metric=error_rate, threshold=5, evaluation_periods=2,
                alarm_description="More than 5% of API responses are 5xx",
            ),
            "PipelineFailures": any_occurrence(
                self, "PipelineFailures", state_machine.metric_failed(period=FIVE_MINUTES),
                "A pipeline execution failed: the session was marked failed and refunded, or (transient"
                " faults) left to the reconciler",
            ),
            "WebhookSignatureFailures": cw.Alarm(
                self, "WebhookSignatureFailures", metric=signature_failures, threshold=10, evaluation_periods=1,
                alarm_description="Many webhooks with bad signatures: a wrong secret, or someone probing",
            ),
            "ReportFallbackRate": cw.Alarm(
                self, "ReportFallbackRate", metric=report_fallback_rate, threshold=50, evaluation_periods=3,
                alarm_description="More than half the reports come from the offline scorer: is Gemini failing?",
            ),
            "RefundFailures": any_occurrence(
                self, "RefundFailures", app_metric("RefundFailed"),
                "Razorpay reported a refund failed: the candidate has not got the money back",
            ),
            "ExtraPaymentRefunds": any_occurrence(
                self, "ExtraPaymentRefunds", app_metric("ExtraPaymentRefunded"),
                "A second captured payment for an already paid session was refunded: check Checkout",
            ),
            "PaymentMismatches": any_occurrence(
                self, "PaymentMismatches", app_metric("PaymentMismatch"),
                "A payment did not match its stored order (order, amount or currency): not paid",
            ),
            "PipelineStartFailures": any_occurrence(
                self, "PipelineStartFailures", app_metric("PipelineStartFailed"),
                "A paid session's pipeline could not be started (StartExecution failed): paid without a pipeline",
            ),
            "RateLimiterFailOpen": cw.Alarm(
                self, "RateLimiterFailOpen", metric=fail_open_rate, threshold=1, evaluation_periods=2,
                alarm_description="Rate limits are not enforced: over 1% of requests failed open (the DynamoDB table unreachable)",
            ),
            "LoggedServerErrors": cw.Alarm(
                self, "LoggedServerErrors", metric=logged_5xx, threshold=5, evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                alarm_description="The API logged 5xx responses (request lines with status >= 500): look them up by request id",
            ),
            "DatabaseConnections": cw.Alarm(
                self, "DatabaseConnections", metric=connections, threshold=80, evaluation_periods=2,
                alarm_description="Database connections are high (RDS Proxy pools them; check for leaks)",
            ),
        }  # fmt: skip
        self.alarms["ReconcilerActions"] = any_occurrence(
            self, "ReconcilerActions", reconciler_actions(),
            "The reconciler found a paid session whose pipeline had stopped without an end (never started,"
            " or ended on faults) and restarted, expired or refunded it: find out why",
        )  # fmt: skip
        if self.topic is not None:
            for alarm in self.alarms.values():
                alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
