"""At the till: look a coupon up, read and void a redemption. Redeeming is the hot route's single statement
(solomo/coupons/redeem_request.py). Unknown codes count against the caller's key in the throttle (``CodeGuard``),
so codes cannot be guessed at speed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
from litestar.status_codes import HTTP_409_CONFLICT
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.principal import Principal
from solomo.coupons import codes
from solomo.coupons.rendering import (
    COUPON_WITH_LIVE_REDEMPTION,
    RedemptionRow,
    coupon_with_live,
    redemption_out,
    redemption_row,
)
from solomo.coupons.schemas import CouponOut, RedemptionOut
from solomo.coupons.throttle import LEVEL_SQL, THROTTLE_PARAMS, CodeGuard, refuse_if_throttled
from solomo.db.sql import uuids
from solomo.errors import ApiError, forbidden, invalid, not_found
from solomo.idempotency import caller_of
from solomo.webhooks.lifecycle import enqueue_event

# One row always: the throttle's level, and the coupon's columns (NULL when no coupon has the code).
_BY_CODE = text(
    f"SELECT {LEVEL_SQL} AS throttle_level, found.* FROM (SELECT 1) AS one"
    f" LEFT JOIN ({COUPON_WITH_LIVE_REDEMPTION} WHERE c.brand_id = :brand_id AND c.code = :code) AS found ON true"
)
_BY_ID = text(f"{COUPON_WITH_LIVE_REDEMPTION} WHERE c.brand_id = :brand_id AND c.id = :id")
_REDEMPTION = text("SELECT * FROM redemptions WHERE brand_id = :brand_id AND id = :id")
# The stats journal takes the redemption back (-1 on its day and store) and counts a void there.
_VOID = text(
    """
    WITH voided AS (
        UPDATE redemptions
           SET voided_at = now(), voided_by_key_id = :key_id, void_reason = :reason
         WHERE brand_id = :brand_id AND id = :id AND voided_at IS NULL AND redeemed_at > now() - interval '24 hours'
           AND (CAST(:scope AS uuid[]) IS NULL OR store_id = ANY(CAST(:scope AS uuid[])))
        RETURNING *
    ),
    journaled AS (
        INSERT INTO stats_pending (brand_id, kind, n, at, in_brand, store_ids, offer_id, member_id, referrer_id,
                                   amount, wait_s)
        SELECT v.brand_id, e.kind, e.n, v.redeemed_at, true, ARRAY[v.store_id], c.offer_id, c.member_id,
               c.referrer_id, v.order_amount, floor(extract(epoch FROM v.redeemed_at - c.claimed_at))::integer
        FROM voided v
        JOIN coupons c ON c.brand_id = v.brand_id AND c.id = v.coupon_id
        CROSS JOIN (VALUES ('redeem', -1), ('void', 1)) AS e(kind, n)
    )
    SELECT v.*, c.offer_id AS coupon_offer_id, c.member_id AS coupon_member_id  -- for the webhook event
      FROM voided v JOIN coupons c ON c.brand_id = v.brand_id AND c.id = v.coupon_id
    """
).bindparams(uuids("scope"))
_AUDIT_VOID = text(
    """
    INSERT INTO coupon_audit (brand_id, coupon_id, redemption_id, action, store_id, key_id, role, detail)
    VALUES (:brand_id, :coupon_id, :redemption_id, 'void', :store_id, :key_id, :role,
            jsonb_strip_nulls(jsonb_build_object('reason', CAST(:reason AS text))))
    """
)
VOID_WINDOW_HOURS = 24


class TillService:
    def __init__(self, session: AsyncSession, principal: Principal, guard: CodeGuard) -> None:
        self.session = session
        self.principal = principal
        self.brand_id = principal.brand_id
        self.guard = guard

    @property
    def _key_id(self) -> uuid.UUID:
        assert self.principal.key_id is not None  # API-key routes only
        return self.principal.key_id

    async def _failed(self) -> None:
        """The failed look-up or redemption wrote nothing, so committing here commits only the failure."""
        await self.guard.failed(self.session, self.brand_id, caller_of(self.principal))

    @property
    def _guarded(self) -> dict[str, object]:
        """Parameters of the statements that embed the throttle's ``LEVEL_SQL``."""
        return {"brand_id": self.brand_id, "caller": caller_of(self.principal)} | THROTTLE_PARAMS

    async def _read_code(self, typed: str, field: str, source: str) -> str:
        """The typed code in canonical form. A code with a wrong check symbol is a typo (422, so the till can
        say so) and counts as a failure like an unknown one; a throttled caller gets the 429 first. Good
        codes are checked against the throttle inside the statement that uses them."""
        code = codes.normalize(typed)
        if not codes.is_well_formed(code):
            await self.guard.check(self.session, self.brand_id, caller_of(self.principal))
            await self._failed()
            raise invalid(field, "not a valid coupon code: check it for typos", source=source, code="code_mistyped")
        return code

    async def lookup(self, typed: str) -> CouponOut:
        code = await self._read_code(typed, "code", "path")
        row = (await self.session.execute(_BY_CODE, self._guarded | {"code": code})).mappings().one()
        refuse_if_throttled(row["throttle_level"])
        if row["id"] is None:
            await self._failed()
            raise not_found("coupon")
        coupon = coupon_with_live(dict(row), datetime.now(UTC))
        scope = self.principal.store_scope
        redeemable = coupon.terms.redeemable_store_ids
        if scope is not None and redeemable is not None and not scope & set(redeemable):
            raise forbidden("This coupon is not redeemable at this key's stores", code="wrong_store")
        return coupon

    async def get(self, redemption_id: uuid.UUID) -> RedemptionOut:
        redemption = await self._redemption(redemption_id)
        return await self._render(redemption)

    async def _redemption(self, redemption_id: uuid.UUID) -> RedemptionRow:
        row = (
            (await self.session.execute(_REDEMPTION, {"brand_id": self.brand_id, "id": redemption_id}))
            .mappings()
            .first()
        )
        if row is None:
            raise not_found("redemption")
        redemption = redemption_row(dict(row))
        if not self.principal.may_use_store(redemption.store_id):
            raise forbidden("This redemption was made at a store this key may not act for", code="store_out_of_scope")
        return redemption

    async def _render(self, redemption: RedemptionRow) -> RedemptionOut:
        row = (
            (await self.session.execute(_BY_ID, {"brand_id": self.brand_id, "id": redemption.coupon_id}))
            .mappings()
            .one()
        )
        return redemption_out(redemption, coupon_with_live(dict(row), datetime.now(UTC)))

    async def void(self, redemption_id: uuid.UUID, reason: str | None) -> RedemptionOut:
        """Void a redemption (same store or admin, within 24 h): the coupon can be redeemed again.

        The conditional UPDATE decides; only when it changes nothing is the row read to say why.
        """
        scope = self.principal.store_scope
        params = {
            "brand_id": self.brand_id,
            "id": redemption_id,
            "key_id": self._key_id,
            "reason": reason,
            "scope": list(scope) if scope is not None else None,
        }
        row = (await self.session.execute(_VOID, params)).mappings().first()
        if row is None:
            current = await self._redemption(redemption_id)  # 404 / 403 out of scope
            if current.voided_at is not None:
                raise ApiError(
                    HTTP_409_CONFLICT,
                    "already_voided",
                    "This redemption has already been voided",
                    extra={"voided_at": current.voided_at},
                )
            raise ApiError(
                HTTP_409_CONFLICT,
                "void_window_passed",
                f"A redemption can be voided within {VOID_WINDOW_HOURS} hours of being made",
            )
        voided = redemption_row(dict(row))
        await self.session.execute(
            _AUDIT_VOID,
            {
                "brand_id": self.brand_id,
                "coupon_id": voided.coupon_id,
                "redemption_id": voided.id,
                "store_id": voided.store_id,
                "key_id": self._key_id,
                "role": self.principal.role.value,
                "reason": reason,
            },
        )
        await enqueue_event(
            self.session,
            self.brand_id,
            "void",
            row["coupon_member_id"],
            {
                "redemption": msgspec.to_builtins(voided),
                "coupon": {
                    "id": voided.coupon_id,
                    "offer_id": row["coupon_offer_id"],
                    "member_id": row["coupon_member_id"],
                },
            },
        )
        return await self._render(voided)
