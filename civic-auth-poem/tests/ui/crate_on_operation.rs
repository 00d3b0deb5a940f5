use civic_auth_poem::civic_auth_required;
use poem_openapi::{payload::PlainText, OpenApi};

struct Api;

#[civic_auth_required]
#[OpenApi]
impl Api {
    #[civic_auth_required(crate = ::civic_auth_poem)]
    #[oai(path = "/hello", method = "get")]
    async fn hello(&self) -> PlainText<&'static str> {
        PlainText("hi")
    }
}

fn main() {}
