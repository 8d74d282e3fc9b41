-- solomo_member_has_account: whether the member has a linked social account on p_provider (any provider when NULL)
-- with at least p_min_followers followers (any count when NULL): the part of an offer's audience that names a
-- provider or a follower count (solomo_offer_admits, solomo/offers/sql/offer_admits.sql). In plpgsql, whose plan is
-- kept for the session: as a subquery inside solomo_offer_admits it kept that function from being inlined, and a
-- SQL function that is not inlined is planned again on every call (about 0.05 ms per offer per check-in).
CREATE OR REPLACE FUNCTION solomo_member_has_account(
    p_brand uuid, p_member uuid, p_provider text, p_min_followers integer
) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM member_social_accounts a
        WHERE a.brand_id = p_brand AND a.member_id = p_member
          AND (p_provider IS NULL OR a.provider = p_provider)
          AND (p_min_followers IS NULL OR a.followers >= p_min_followers)
    );
END;
$$;
