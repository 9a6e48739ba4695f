from flask import Flask, render_template
import socket

app = Flask(__name__)

@app.route("/")
def home():
    container_id = socket.gethostname()
    return render_template("index.html", container_id=container_id)

if __name__ == "__main__":
    app.run(debug=True)
