use civic_auth_poem::civic_auth_required;
use poem::handler;

#[civic_auth_required(max_age = "5 minutes")]
#[handler]
async fn sensitive() -> &'static str {
    "Recent enough"
}

fn main() {}
