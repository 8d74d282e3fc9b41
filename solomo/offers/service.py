"""Offers: what a campaign offers, where, to whom, when and with which coupon; validated as a whole."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, and_, or_, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.principal import Principal
from solomo.coupons.capacity import change_total, create_capacity
from solomo.db.models import Offer
from solomo.db.sql import uuids
from solomo.errors import ApiError, FieldError, forbidden, invalid_many, not_found
from solomo.offers.campaigns import CampaignService
from solomo.offers.schemas import (
    CouponTerms,
    Limits,
    OfferCreate,
    OfferOut,
    OfferPage,
    OfferPatch,
    When,
    Where,
    Who,
)
from solomo.pagination import newest_first_page, split_page

#: The positions (from 0) of the listed stores and geofences that this brand does not have, in one round trip:
#: each unknown id is named by its own index, duplicates included, without searching the list again in Python.
_UNKNOWN_PLACES = text(
    """
    SELECT 'store_ids' AS list, wanted.pos - 1 AS index
    FROM unnest(CAST(:store_ids AS uuid[])) WITH ORDINALITY AS wanted(id, pos)
    WHERE NOT EXISTS (SELECT 1 FROM stores s WHERE s.brand_id = :brand_id AND s.id = wanted.id)
    UNION ALL
    SELECT 'geofence_ids', wanted.pos - 1
    FROM unnest(CAST(:geofence_ids AS uuid[])) WITH ORDINALITY AS wanted(id, pos)
    WHERE NOT EXISTS (SELECT 1 FROM geofences g WHERE g.brand_id = :brand_id AND g.id = wanted.id)
    ORDER BY 1 DESC, 2
    """
).bindparams(uuids("store_ids"), uuids("geofence_ids"))
_UNKNOWN_MESSAGES = {"store_ids": "no such store in this brand", "geofence_ids": "no such geofence in this brand"}
#: Field errors quoted in a 422's ``detail``; ``errors[]`` always lists every one.
_DETAIL_ERRORS = 5


def _rejected(errors: list[FieldError]) -> ApiError:
    """A 422 with every field error, and a detail sentence that stays short however many there are."""
    shown = "; ".join(f"{e.field}: {e.message}" for e in errors[:_DETAIL_ERRORS])
    more = len(errors) - _DETAIL_ERRORS
    return invalid_many(errors, f"{shown}; and {more} more (see errors)" if more > 0 else shown)


def offer_out(offer: Offer) -> OfferOut:
    return OfferOut(
        id=offer.id,
        campaign_id=offer.campaign_id,
        title=offer.title,
        description=offer.description,
        image_url=offer.image_url,
        active=offer.active,
        where=Where(target=offer.target, store_ids=list(offer.store_ids), geofence_ids=list(offer.geofence_ids)),  # type: ignore[arg-type]
        who=Who(
            tags=list(offer.audience_tags),
            tiers=list(offer.audience_tiers),
            provider=offer.audience_provider,  # type: ignore[arg-type]
            min_followers=offer.min_followers,
            joined_within_days=offer.joined_within_days,
        ),
        when=msgspec.convert({"weekly_hours": offer.weekly_hours}, When),
        trigger=offer.trigger,  # type: ignore[arg-type]
        coupon=CouponTerms(
            kind=offer.coupon_kind,  # type: ignore[arg-type]
            percent_off=float(offer.percent_off) if offer.percent_off is not None else None,
            amount_off=float(offer.amount_off) if offer.amount_off is not None else None,
            currency=offer.currency,
            free_item=offer.free_item,
            validity_minutes=offer.validity_minutes,
            redeemable_at=offer.redeemable_at,  # type: ignore[arg-type]
            requires_visit=offer.requires_visit,
        ),
        limits=Limits(
            total=offer.total_limit,
            per_member=offer.per_member_limit,
            per_member_per_day=offer.per_member_daily_limit,
            grants=offer.grants,  # type: ignore[arg-type]
        ),
        shareable=offer.shareable,
        created_at=offer.created_at,
        updated_at=offer.updated_at,
    )


def _section_columns(where: Where, who: Who, when: When, coupon: CouponTerms, limits: Limits) -> dict[str, Any]:
    return {
        "target": where.target,
        "store_ids": sorted(set(where.store_ids)),
        "geofence_ids": sorted(set(where.geofence_ids)),
        "audience_tags": sorted(set(who.tags)),
        "audience_tiers": sorted(set(who.tiers)),
        "audience_provider": who.provider,
        "min_followers": who.min_followers,
        "joined_within_days": who.joined_within_days,
        "weekly_hours": msgspec.to_builtins(when.weekly_hours) if when.weekly_hours is not None else None,
        "coupon_kind": coupon.kind,
        "percent_off": Decimal(str(coupon.percent_off)) if coupon.percent_off is not None else None,
        "amount_off": Decimal(str(coupon.amount_off)) if coupon.amount_off is not None else None,
        "currency": coupon.currency,
        "free_item": coupon.free_item,
        "validity_minutes": coupon.validity_minutes,
        "redeemable_at": coupon.redeemable_at,
        "requires_visit": coupon.requires_visit,
        "total_limit": limits.total,
        "per_member_limit": limits.per_member,
        "per_member_daily_limit": limits.per_member_per_day,
        "grants": limits.grants,
    }


def _when_errors(when: When) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, window in enumerate(when.weekly_hours or []):
        if window.start == window.end:
            errors.append(FieldError(f"when.weekly_hours[{index}].end", "a window must not start and end at once"))
        if len(set(window.days)) != len(window.days):
            errors.append(FieldError(f"when.weekly_hours[{index}].days", "a day is listed twice"))
    return errors


_COUPON_FIELDS = {"percent": ["percent_off"], "amount": ["amount_off", "currency"], "free_item": ["free_item"]}


def _coupon_errors(coupon: CouponTerms) -> list[FieldError]:
    errors: list[FieldError] = []
    for field in ("percent_off", "amount_off", "currency", "free_item"):
        given = getattr(coupon, field) is not None
        if field in _COUPON_FIELDS[coupon.kind] and not given:
            errors.append(FieldError(f"coupon.{field}", f"required for a {coupon.kind} coupon"))
        if field not in _COUPON_FIELDS[coupon.kind] and given:
            errors.append(FieldError(f"coupon.{field}", f"not used by a {coupon.kind} coupon"))
    return errors


def _limit_errors(limits: Limits) -> list[FieldError]:
    errors: list[FieldError] = []
    if limits.per_member and limits.total and limits.per_member > limits.total:
        errors.append(FieldError("limits.per_member", "cannot exceed the total"))
    if limits.per_member_per_day and limits.per_member and limits.per_member_per_day > limits.per_member:
        errors.append(FieldError("limits.per_member_per_day", "cannot exceed the per-member limit"))
    return errors


def served_at(scope: frozenset[uuid.UUID]) -> ColumnElement[bool]:
    """The offer is served at one of these stores: all stores, one of them, or a fence of one of them.

    The one definition of a manager's view of offers, for listing and for single look-ups alike.
    """
    stores = list(scope)
    fenced = text(
        "EXISTS (SELECT 1 FROM geofences g WHERE g.brand_id = offers.brand_id"
        " AND g.id = ANY(offers.geofence_ids) AND g.store_id = ANY(:scope))"
    ).bindparams(uuids("scope", stores))
    return or_(
        Offer.target == "all_stores",
        and_(Offer.target == "stores", Offer.store_ids.overlap(stores)),
        and_(Offer.target == "geofences", fenced),
    )


class OfferService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.brand_id = principal.brand_id

    async def _check(self, where: Where, when: When, coupon: CouponTerms, limits: Limits) -> None:
        """Rules that span fields: every broken one is reported, each naming its field."""
        errors = [
            *await self._where_errors(where),
            *_when_errors(when),
            *_coupon_errors(coupon),
            *_limit_errors(limits),
        ]
        if errors:
            raise _rejected(errors)

    async def _where_errors(self, where: Where) -> list[FieldError]:
        errors: list[FieldError] = []
        if where.target == "stores" and not where.store_ids:
            errors.append(FieldError("where.store_ids", "an offer for some stores needs at least one store"))
        if where.target == "geofences" and not where.geofence_ids:
            errors.append(FieldError("where.geofence_ids", "an offer for some geofences needs at least one geofence"))
        if where.target != "stores" and where.store_ids:
            errors.append(FieldError("where.store_ids", "only for target 'stores'"))
        if where.target != "geofences" and where.geofence_ids:
            errors.append(FieldError("where.geofence_ids", "only for target 'geofences'"))
        if where.store_ids or where.geofence_ids:
            rows = await self.session.execute(
                _UNKNOWN_PLACES,
                {"brand_id": self.brand_id, "store_ids": where.store_ids, "geofence_ids": where.geofence_ids},
            )
            errors += [FieldError(f"where.{r.list}[{r.index}]", _UNKNOWN_MESSAGES[r.list]) for r in rows]
        return errors

    async def create(self, data: OfferCreate) -> OfferOut:
        await CampaignService(self.session, self.principal).find(data.campaign_id, field="campaign_id")
        await self._check(data.where, data.when, data.coupon, data.limits)
        offer = Offer(
            brand_id=self.brand_id,
            campaign_id=data.campaign_id,
            title=data.title,
            description=data.description,
            image_url=data.image_url,
            trigger=data.trigger,
            shareable=data.shareable,
            active=data.active,
            **_section_columns(data.where, data.who, data.when, data.coupon, data.limits),
        )
        self.session.add(offer)
        await self.session.flush()
        await create_capacity(self.session, self.brand_id, offer.id, offer.total_limit)
        await self.session.refresh(offer)
        return offer_out(offer)

    async def _find(self, offer_id: uuid.UUID) -> Offer:
        query = select(Offer).where(Offer.id == offer_id, Offer.brand_id == self.brand_id)
        scope = self.principal.store_scope
        in_scope = served_at(scope) if scope is not None else true()
        found = (await self.session.execute(query.add_columns(in_scope.label("in_scope")))).first()
        if found is None:
            raise not_found("offer")
        if not found.in_scope:
            raise forbidden("This offer is not served at this key's stores", code="store_out_of_scope")
        offer: Offer = found[0]
        return offer

    async def get(self, offer_id: uuid.UUID) -> OfferOut:
        return offer_out(await self._find(offer_id))

    async def update(self, offer_id: uuid.UUID, patch: OfferPatch) -> OfferOut:
        offer = await self._find(offer_id)
        current = offer_out(offer)
        changes = patch.changes()
        where = patch.where if isinstance(patch.where, Where) else current.where
        who = patch.who if isinstance(patch.who, Who) else current.who
        when = patch.when if isinstance(patch.when, When) else current.when
        coupon = patch.coupon if isinstance(patch.coupon, CouponTerms) else current.coupon
        limits = patch.limits if isinstance(patch.limits, Limits) else current.limits
        # Only the sections sent are checked: a section the offer already has stays as it was accepted
        # (an offer whose only store was deleted can still be paused or renamed).
        errors = await self._where_errors(where) if "where" in changes else []
        errors += _when_errors(when) if "when" in changes else []
        errors += _coupon_errors(coupon) if "coupon" in changes else []
        errors += _limit_errors(limits) if {"limits", "coupon"} & changes.keys() else []
        if errors:
            raise _rejected(errors)
        for field in ("title", "description", "image_url", "trigger", "shareable", "active"):
            if field in changes:
                setattr(offer, field, changes[field])
        total_before = offer.total_limit
        for column, value in _section_columns(where, who, when, coupon, limits).items():
            setattr(offer, column, value)
        await self.session.flush()
        if offer.total_limit != total_before:
            await change_total(self.session, self.brand_id, offer.id, offer.total_limit)
        await self.session.refresh(offer)
        return offer_out(offer)

    async def page(
        self, *, limit: int, cursor: str | None, campaign_id: uuid.UUID | None, active: bool | None
    ) -> OfferPage:
        query = select(Offer).where(Offer.brand_id == self.brand_id)
        if campaign_id:
            query = query.where(Offer.campaign_id == campaign_id)
        if active is not None:
            query = query.where(Offer.active == active)
        scope = self.principal.store_scope
        if scope is not None:
            query = query.where(served_at(scope))
        rows = (await self.session.scalars(newest_first_page(query, Offer, cursor, limit))).all()
        offers, next_cursor = split_page(rows, limit)
        return OfferPage(items=[offer_out(o) for o in offers], next_cursor=next_cursor)
