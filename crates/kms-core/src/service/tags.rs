//! Tags: TagResource, UntagResource, ListResourceTags.

use super::{Access, Aliases, Kms, RequestContext};
use crate::error::{Error, Result};
use crate::model::*;

/// At most this many tags on one key.
pub const TAGS_PER_KEY: usize = 50;
const DEFAULT_TAG_LIST_LIMIT: i64 = 50;

/// AWS's character rule for tag keys and values.
fn tag_chars_ok(s: &str) -> bool {
    s.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
}

const RESERVED: &str = "Tags beginning with aws: are reserved";

fn is_reserved(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
}

impl Kms {
    /// Apply `new` tags over `existing` (a new value replaces the old one),
    /// checking AWS's rules: no `aws:` prefix, allowed characters, at most
    /// 50 tags.
    pub(super) fn merge_tags(mut existing: Vec<(String, String)>, new: Vec<Tag>) -> Result<Vec<(String, String)>> {
        // AWS's texts, recorded: reserved prefix, duplicates in one request, count.
        if new.iter().any(|t| t.tag_key.as_deref().is_some_and(is_reserved)) {
            return Err(Error::Tag(RESERVED.into()));
        }
        for (i, t) in new.iter().enumerate() {
            if new[..i].iter().any(|u| u.tag_key == t.tag_key) {
                return Err(Error::Tag("Duplicate tag keys".into()));
            }
        }
        for t in new {
            let (k, v) = (t.tag_key.unwrap_or_default(), t.tag_value.unwrap_or_default());
            if !tag_chars_ok(&k) || !tag_chars_ok(&v) {
                return Err(Error::Tag(
                    "Tag keys and values may contain only Unicode letters, digits, white space, and _ . : / = + - @"
                        .into(),
                ));
            }
            match existing.iter_mut().find(|(ek, _)| *ek == k) {
                Some(slot) => slot.1 = v,
                None => existing.push((k, v)),
            }
        }
        if existing.len() > TAGS_PER_KEY {
            return Err(Error::Tag("Too many tags".into()));
        }
        Ok(existing)
    }

    pub async fn tag_resource(&self, ctx: &RequestContext, req: TagResourceRequest) -> Result<()> {
        let tags = req.tags.unwrap_or_default();
        let access = Access::new("kms:TagResource")
            .with("aws:TagKeys", tags.iter().map(|t| t.tag_key.clone().unwrap_or_default()).collect());
        let access = tags.iter().fold(access, |a, t| {
            a.with(
                &format!("aws:RequestTag/{}", t.tag_key.as_deref().unwrap_or_default()),
                vec![t.tag_value.clone().unwrap_or_default()],
            )
        });
        self.update_key(ctx, req.key_id.as_deref().unwrap_or_default(), &access, |r, arn| {
            Self::manageable(r, arn)?;
            r.tags = Self::merge_tags(std::mem::take(&mut r.tags), tags.clone())?;
            Ok(())
        })
        .await
    }

    pub async fn untag_resource(&self, ctx: &RequestContext, req: UntagResourceRequest) -> Result<()> {
        let keys = req.tag_keys.unwrap_or_default();
        if keys.iter().any(|k| is_reserved(k)) {
            return Err(Error::Tag(RESERVED.into()));
        }
        let access = Access::new("kms:UntagResource").with("aws:TagKeys", keys.clone());
        self.update_key(ctx, req.key_id.as_deref().unwrap_or_default(), &access, |r, arn| {
            Self::manageable(r, arn)?;
            r.tags.retain(|(k, _)| !keys.contains(k));
            Ok(())
        })
        .await
    }

    pub async fn list_resource_tags(
        &self,
        ctx: &RequestContext,
        req: ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse> {
        let access = Access::new("kms:ListResourceTags");
        let k =
            self.resolve_as(ctx, req.key_id.as_deref().unwrap_or_default(), Aliases::Refused, Some(&access)).await?;
        let limit = req.limit.map_or(DEFAULT_TAG_LIST_LIMIT, i64::from).min(TAGS_PER_KEY as i64) as usize;
        let start = match req.marker.as_deref() {
            None => 0,
            Some(m) => m
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= k.record.tags.len())
                .ok_or_else(|| Error::InvalidMarker("Invalid marker".into()))?,
        };
        let end = (start + limit).min(k.record.tags.len());
        let truncated = end < k.record.tags.len();
        Ok(ListResourceTagsResponse {
            tags: Some(
                k.record.tags[start..end]
                    .iter()
                    .map(|(key, value)| Tag { tag_key: Some(key.clone()), tag_value: Some(value.clone()) })
                    .collect(),
            ),
            next_marker: truncated.then(|| end.to_string()),
            truncated: Some(truncated),
        })
    }
}
