-- solomo_offer_admits: the offer's audience ("who") admits the member at time p_at.
-- Marketing consent is always required; tags and tiers are any-of; provider and min_followers ask for one
-- linked account that has both (followers on that provider when one is named, on any account otherwise).
CREATE OR REPLACE FUNCTION solomo_offer_admits(p_offer uuid, p_member uuid, p_at timestamptz, p_store_timezone text)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT m.consent_marketing
       AND (o.audience_tags = '{}' OR o.audience_tags && m.tags)
       AND (o.audience_tiers = '{}' OR m.tier = ANY(o.audience_tiers))
       AND (o.joined_within_days IS NULL OR m.joined_at >= p_at - make_interval(days => o.joined_within_days))
       AND ((o.audience_provider IS NULL AND o.min_followers IS NULL) OR EXISTS (
               SELECT 1 FROM member_social_accounts a
               WHERE a.brand_id = m.brand_id AND a.member_id = m.id
                 AND (o.audience_provider IS NULL OR a.provider = o.audience_provider)
                 AND (o.min_followers IS NULL OR a.followers >= o.min_followers)))
       AND (o.weekly_hours IS NULL OR solomo_in_weekly_hours(o.weekly_hours, p_at AT TIME ZONE p_store_timezone))
    FROM offers o, members m
    WHERE o.id = p_offer AND m.id = p_member AND m.brand_id = o.brand_id
$$;
