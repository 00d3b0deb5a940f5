use civic_auth_poem::{civic_auth_required, CivicUser};
use poem_openapi::{payload::PlainText, OpenApi};

struct Api;

#[civic_auth_required]
#[OpenApi]
impl Api {
    #[oai(path = "/me", method = "get")]
    async fn me(&self, user: Option<CivicUser>) -> PlainText<String> {
        PlainText(user.map(|u| u.id).unwrap_or_default())
    }
}

fn main() {}
