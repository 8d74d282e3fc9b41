from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.guards import MEMBER, STAFF, allow
from solomo.auth.middleware import principal_of
from solomo.auth.principal import Role
from solomo.coordinates import CrsQuery, Lat, Lon
from solomo.geo.crs import to_wgs84
from solomo.offers.campaigns import CampaignService
from solomo.offers.nearby import MAX_RADIUS_M, nearby_offers
from solomo.offers.schemas import (
    CampaignCreate,
    CampaignOut,
    CampaignPage,
    CampaignPatch,
    CampaignStatus,
    NearbyOffers,
    OfferCreate,
    OfferOut,
    OfferPage,
    OfferPatch,
)
from solomo.offers.service import OfferService
from solomo.openapi_contract import problems
from solomo.pagination import Cursor, Limit

#: Campaigns and offers are the marketers' (and admins'); managers may read the offers served at their stores.
MARKETING = allow(Role.ADMIN, Role.MARKETER)


class CampaignController(Controller):
    path = "/v1/campaigns"
    tags = ["Campaigns"]
    guards = [MARKETING]

    @post(summary="Create a campaign (a window and a channel)")
    async def create_campaign(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], data: JSONBody[CampaignCreate]
    ) -> CampaignOut:
        return await CampaignService(db_session, principal_of(request)).create(data)

    @get(summary="List campaigns")
    async def list_campaigns(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 50,
        cursor: Cursor = None,
        status: Annotated[CampaignStatus | None, Parameter(description="Only campaigns in this status.")] = None,
    ) -> CampaignPage:
        return await CampaignService(db_session, principal_of(request)).page(limit=limit, cursor=cursor, status=status)

    @get("/{campaign_id:uuid}", summary="One campaign")
    async def get_campaign(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        campaign_id: FromPath[uuid.UUID],
    ) -> CampaignOut:
        return await CampaignService(db_session, principal_of(request)).get(campaign_id)

    @patch(
        "/{campaign_id:uuid}",
        summary="Change a campaign: pause, resume, end, move its window",
        opt=problems({409: ["campaign_ended"]}),
    )
    async def patch_campaign(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        campaign_id: FromPath[uuid.UUID],
        data: JSONBody[CampaignPatch],
    ) -> CampaignOut:
        return await CampaignService(db_session, principal_of(request)).update(campaign_id, data)


class OfferController(Controller):
    path = "/v1/offers"
    tags = ["Offers"]

    @post(
        guards=[MARKETING],
        summary="Create an offer: where, who, when, trigger, coupon and limits",
        opt=problems({403: ["store_out_of_scope"]}),
    )
    async def create_offer(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], data: JSONBody[OfferCreate]
    ) -> OfferOut:
        return await OfferService(db_session, principal_of(request)).create(data)

    @get(guards=[STAFF], summary="List offers (a manager sees those served at its stores)")
    async def list_offers(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 50,
        cursor: Cursor = None,
        campaign_id: Annotated[uuid.UUID | None, Parameter(description="Only this campaign's offers.")] = None,
        active: Annotated[bool | None, Parameter(description="Only active (or paused) offers.")] = None,
    ) -> OfferPage:
        service = OfferService(db_session, principal_of(request))
        return await service.page(limit=limit, cursor=cursor, campaign_id=campaign_id, active=active)

    @get("/nearby", guards=[MEMBER], summary="Offers at stores near the member, nearest first (browsing only)")
    async def offers_nearby(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        lon: Lon,
        lat: Lat,
        radius_m: Annotated[float, Parameter(gt=0, le=MAX_RADIUS_M, description="Search radius (m).")] = 2000,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        crs: CrsQuery = "wgs84",
    ) -> NearbyOffers:
        # The answer has no coordinates (stores by id and name, distances in metres): only the point is converted.
        lon, lat = to_wgs84(crs, lon, lat)
        return await nearby_offers(db_session, principal_of(request), lon=lon, lat=lat, radius_m=radius_m, limit=limit)

    @get("/{offer_id:uuid}", guards=[STAFF], summary="One offer")
    async def get_offer(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], offer_id: FromPath[uuid.UUID]
    ) -> OfferOut:
        return await OfferService(db_session, principal_of(request)).get(offer_id)

    @patch(
        "/{offer_id:uuid}",
        guards=[MARKETING],
        summary="Change or pause an offer (issued coupons keep their terms)",
        opt=problems({403: ["store_out_of_scope"]}),
    )
    async def patch_offer(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        offer_id: FromPath[uuid.UUID],
        data: JSONBody[OfferPatch],
    ) -> OfferOut:
        return await OfferService(db_session, principal_of(request)).update(offer_id, data)
