"""Campaigns: a window and a channel; only an active campaign inside its window serves offers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.principal import Principal
from solomo.db.models import Campaign
from solomo.errors import conflict, invalid, not_found
from solomo.offers.schemas import CampaignCreate, CampaignOut, CampaignPage, CampaignPatch
from solomo.pagination import newest_first_page, split_page


def campaign_out(campaign: Campaign, now: datetime | None = None) -> CampaignOut:
    now = now or datetime.now(UTC)
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        channel=campaign.channel,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        status=campaign.status,  # type: ignore[arg-type]
        serving=campaign.status == "active" and campaign.starts_at <= now < campaign.ends_at,
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
    )


class CampaignService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.brand_id = principal.brand_id

    async def find(self, campaign_id: uuid.UUID, *, field: str | None = None) -> Campaign:
        """The brand's campaign; a 404, or a 422 naming ``field`` when the id came in a body."""
        campaign = await self.session.scalar(
            select(Campaign).where(Campaign.id == campaign_id, Campaign.brand_id == self.brand_id)
        )
        if campaign is None:
            if field:
                raise invalid(field, "no campaign of this brand has that id")
            raise not_found("campaign")
        return campaign

    async def create(self, data: CampaignCreate) -> CampaignOut:
        if data.ends_at <= data.starts_at:
            raise invalid("ends_at", "must be after starts_at")
        campaign = Campaign(
            brand_id=self.brand_id,
            name=data.name,
            channel=data.channel,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            status=data.status,
        )
        self.session.add(campaign)
        await self.session.flush()
        await self.session.refresh(campaign)
        return campaign_out(campaign)

    async def get(self, campaign_id: uuid.UUID) -> CampaignOut:
        return campaign_out(await self.find(campaign_id))

    async def update(self, campaign_id: uuid.UUID, patch: CampaignPatch) -> CampaignOut:
        campaign = await self.find(campaign_id)
        changes = patch.changes()
        if campaign.status == "ended" and changes.get("status", "ended") != "ended":
            raise conflict("campaign_ended", "An ended campaign cannot be restarted; create a new one")
        starts_at = changes.get("starts_at", campaign.starts_at)
        ends_at = changes.get("ends_at", campaign.ends_at)
        assert isinstance(starts_at, datetime)
        assert isinstance(ends_at, datetime)
        if ends_at <= starts_at:
            raise invalid("ends_at" if "ends_at" in changes else "starts_at", "the window must end after it starts")
        for field, value in changes.items():
            setattr(campaign, field, value)
        await self.session.flush()
        await self.session.refresh(campaign)
        return campaign_out(campaign)

    async def page(self, *, limit: int, cursor: str | None, status: str | None) -> CampaignPage:
        query = select(Campaign).where(Campaign.brand_id == self.brand_id)
        if status:
            query = query.where(Campaign.status == status)
        rows = (await self.session.scalars(newest_first_page(query, Campaign, cursor, limit))).all()
        campaigns, next_cursor = split_page(rows, limit)
        now = datetime.now(UTC)
        return CampaignPage(items=[campaign_out(c, now) for c in campaigns], next_cursor=next_cursor)
