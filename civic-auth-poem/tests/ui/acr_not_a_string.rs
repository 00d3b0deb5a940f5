use civic_auth_poem::civic_auth_required;
use poem::handler;

#[civic_auth_required(acr = 2)]
#[handler]
async fn gold() -> &'static str {
    "Gold"
}

fn main() {}
