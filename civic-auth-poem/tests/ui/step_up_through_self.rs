use civic_auth_poem::civic_auth_required;
use poem_openapi::{payload::PlainText, OpenApi};

struct AdminApi;

#[civic_auth_required]
#[OpenApi]
impl AdminApi {
    const MAX_AGE: u64 = 300;

    #[civic_auth_required(max_age = Self::MAX_AGE)]
    #[oai(path = "/sensitive", method = "get")]
    async fn sensitive(&self) -> PlainText<&'static str> {
        PlainText("Recent enough")
    }
}

fn main() {}
