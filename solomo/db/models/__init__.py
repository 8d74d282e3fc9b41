"""Every table model, imported here so Alembic and relationships see one metadata."""

from solomo.db.models.api_key import ApiKey, ApiKeyRoute
from solomo.db.models.brand import Brand
from solomo.db.models.budget import RequestBudget
from solomo.db.models.checkin import Checkin, CheckinMatch, FenceState, IdempotencyKey
from solomo.db.models.console_session import ConsoleSession
from solomo.db.models.coupon import (
    CodeFailures,
    Coupon,
    CouponAudit,
    MemberOfferClaims,
    OfferCapacity,
    OfferShare,
    Redemption,
)
from solomo.db.models.eligibility import OfferEligibility, OfferImpression
from solomo.db.models.geofence import Geofence
from solomo.db.models.member import SOCIAL_PROVIDERS, ConsentEvent, Member, SocialAccount
from solomo.db.models.offer import Campaign, Offer
from solomo.db.models.stats import (
    heatmap_cells,
    member_firsts,
    stats_hourly,
    stats_pending,
    stats_referrers,
    stats_rollup,
)
from solomo.db.models.store import Store
from solomo.db.models.webhook import WebhookAttempt, WebhookEndpoint, WebhookMessage, WebhookOutbox

__all__ = [
    "SOCIAL_PROVIDERS",
    "ApiKey",
    "ApiKeyRoute",
    "Brand",
    "Campaign",
    "Checkin",
    "CheckinMatch",
    "CodeFailures",
    "ConsentEvent",
    "ConsoleSession",
    "Coupon",
    "CouponAudit",
    "FenceState",
    "Geofence",
    "IdempotencyKey",
    "Member",
    "MemberOfferClaims",
    "Offer",
    "OfferCapacity",
    "OfferEligibility",
    "OfferImpression",
    "OfferShare",
    "Redemption",
    "RequestBudget",
    "SocialAccount",
    "Store",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookMessage",
    "WebhookOutbox",
    "heatmap_cells",
    "member_firsts",
    "stats_hourly",
    "stats_pending",
    "stats_referrers",
    "stats_rollup",
]
