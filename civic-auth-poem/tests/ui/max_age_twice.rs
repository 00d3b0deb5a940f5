use civic_auth_poem::civic_auth_required;
use poem::handler;

#[civic_auth_required(max_age = 300, max_age = 60)]
#[handler]
async fn sensitive() -> &'static str {
    "Recent enough"
}

fn main() {}
