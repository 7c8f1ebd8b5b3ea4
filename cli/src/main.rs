fn main() {
    println!("uchat: not yet");
}
