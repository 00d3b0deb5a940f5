use civic_auth_poem::civic_auth_required;
use poem::handler;

#[civic_auth_required(crate = "civic_auth_poem")]
#[handler]
async fn hello() -> &'static str {
    "hi"
}

fn main() {}
