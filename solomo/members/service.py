"""Members as far as the foundation needs them: upsert by external id, read, mint member tokens."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.member_tokens import MemberTokenCodec
from solomo.db.models import Member
from solomo.errors import not_found
from solomo.members.schemas import MemberOut, MemberToken, MemberUpsert

_UPSERT = text(
    """
    INSERT INTO members (brand_id, external_id, display_name)
    VALUES (:brand_id, :external_id, :display_name)
    ON CONFLICT (brand_id, external_id) DO UPDATE
       SET display_name = COALESCE(EXCLUDED.display_name, members.display_name),
           updated_at = CASE WHEN EXCLUDED.display_name IS DISTINCT FROM members.display_name
                              AND EXCLUDED.display_name IS NOT NULL
                             THEN now() ELSE members.updated_at END
    RETURNING id, (xmax = 0) AS inserted
    """
)


def _out(member: Member) -> MemberOut:
    return MemberOut(
        id=member.id,
        external_id=member.external_id,
        display_name=member.display_name,
        created_at=member.created_at,
        updated_at=member.updated_at,
    )


class MemberService:
    def __init__(self, session: AsyncSession, brand_id: uuid.UUID) -> None:
        self.session = session
        self.brand_id = brand_id

    async def upsert(self, data: MemberUpsert) -> tuple[MemberOut, bool]:
        """Insert or update by external id in one statement, so racing upserts make one member.

        Returns the member and whether it was created (``xmax = 0`` only on a freshly inserted row).
        """
        row = (
            await self.session.execute(
                _UPSERT, {"brand_id": self.brand_id, "external_id": data.external_id, "display_name": data.display_name}
            )
        ).one()
        return _out(await self.get_model(row.id)), bool(row.inserted)

    async def get_model(self, member_id: uuid.UUID) -> Member:
        member = await self.session.scalar(
            select(Member)
            .where(Member.id == member_id, Member.brand_id == self.brand_id)
            .execution_options(populate_existing=True)
        )
        if member is None:
            raise not_found("member")
        return member

    async def get(self, member_id: uuid.UUID) -> MemberOut:
        return _out(await self.get_model(member_id))

    async def mint_token(self, member_id: uuid.UUID, codec: MemberTokenCodec) -> MemberToken:
        member = await self.get_model(member_id)
        token, expires_at = codec.mint(self.brand_id, member.id, member.token_version)
        return MemberToken(token=token, token_type="Bearer", expires_at=expires_at)
