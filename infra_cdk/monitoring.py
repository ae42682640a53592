"""Dashboard and alarms: requests, errors, latency per route, pipeline outcomes, fallback rates, AI and
voice cost; alarms on 5xx rate, pipeline failures, webhook signature failures, report fallback rate and
database connections, to an optional e-mail topic."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra_cdk.config import DeployConfig
from prepkit.observability import NAMESPACE, SERVICE
from prepkit.routes import ROUTES

FIVE_MINUTES = Duration.minutes(5)


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
            "PipelineFailures": cw.Alarm(
                self, "PipelineFailures", metric=state_machine.metric_failed(period=FIVE_MINUTES), threshold=1,
                evaluation_periods=1, comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                alarm_description="A pipeline execution failed: the session was marked failed; check the refund",
            ),
            "WebhookSignatureFailures": cw.Alarm(
                self, "WebhookSignatureFailures", metric=signature_failures, threshold=10, evaluation_periods=1,
                alarm_description="Many webhooks with bad signatures: a wrong secret, or someone probing",
            ),
            "ReportFallbackRate": cw.Alarm(
                self, "ReportFallbackRate", metric=report_fallback_rate, threshold=50, evaluation_periods=3,
                alarm_description="More than half the reports come from the offline scorer: is Gemini failing?",
            ),
            "RefundFailures": cw.Alarm(
                self, "RefundFailures", metric=app_metric("RefundFailed"), threshold=1, evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                alarm_description="Razorpay reported a refund failed: the candidate has not got the money back",
            ),
            "ExtraPaymentRefunds": cw.Alarm(
                self, "ExtraPaymentRefunds", metric=app_metric("ExtraPaymentRefunded"), threshold=1,
                evaluation_periods=1, comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                alarm_description="A second captured payment for an already paid session was refunded: check Checkout",
            ),
            "PaymentMismatches": cw.Alarm(
                self, "PaymentMismatches", metric=app_metric("PaymentMismatch"), threshold=1, evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                alarm_description="A payment did not match its stored order (order, amount or currency): not paid",
            ),
            "DatabaseConnections": cw.Alarm(
                self, "DatabaseConnections", metric=connections, threshold=80, evaluation_periods=2,
                alarm_description="Database connections are high (RDS Proxy pools them; check for leaks)",
            ),
        }  # fmt: skip
        if self.topic is not None:
            for alarm in self.alarms.values():
                alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
